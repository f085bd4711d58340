//! Spawning server processes that die with us: every child gets a parent-death signal, and all
//! children are forked by one thread that lives as long as the process.
//!
//! Linux delivers `PR_SET_PDEATHSIG` when the *thread* that forked the child exits, not the
//! process. Tests start clusters from short-lived test threads, so forking from them would kill
//! a shared cluster as soon as its first test finished. A dedicated, never-ending spawner thread
//! ties the children to the process instead: a crashed or killed test process takes its
//! postmaster with it (which in turn stops its backends).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

use nix::sys::signal::Signal;

struct Request {
    command: Command,
    reply: mpsc::SyncSender<io::Result<Child>>,
}

static SPAWNER: OnceLock<io::Result<mpsc::Sender<Request>>> = OnceLock::new();

fn spawner() -> io::Result<&'static mpsc::Sender<Request>> {
    let slot = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("pgkeel-spawner".into())
            .spawn(move || {
                for mut request in rx {
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .map(|_| tx)
    });
    slot.as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("start the spawner thread: {e}")))
}

/// Spawns `command` so that it receives `on_parent_death` when this process dies (forked from
/// one long-lived thread, so the signal is tied to the process, not to the calling thread).
/// The embedded cluster starts its postmaster this way; `pgkeel demo` its child processes.
pub fn spawn_tied(mut command: Command, on_parent_death: Signal) -> io::Result<Child> {
    let parent = std::process::id();
    let signal = on_parent_death as libc::c_int;
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid). std runs it after setuid/setgid, which matters because a
    // credential change clears the parent-death signal.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then nobody will signal us.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
    let (reply, answer) = mpsc::sync_channel(1);
    spawner()?
        .send(Request { command, reply })
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer
        .recv()
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}
