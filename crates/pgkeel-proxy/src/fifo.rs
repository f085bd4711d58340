//! Citus's fifo protocol, so its failure-test helper SQL works unchanged: the SQL side writes a
//! command into the fifo (`COPY ... TO '<fifo>'`) and closes it; the proxy reads to EOF, runs it
//! and writes the answer back (`COPY ... FROM '<fifo>'`): an empty line on success, the error
//! text on failure, nothing for `recorder.reset()`, the Citus-format rows for `recorder.dump()`.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::citus;
use crate::error::ProxyError;
use crate::rules::{Command, parse_command};
use crate::shared::ProxyShared;

/// Creates the fifo if needed and answers commands on a dedicated thread.
pub(crate) fn serve(
    path: PathBuf,
    shared: Arc<ProxyShared>,
    shutdown: CancellationToken,
) -> Result<(), ProxyError> {
    match std::fs::metadata(&path) {
        Ok(meta) if meta.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(ProxyError::Config(format!(
                "{} exists and is not a fifo; remove it or choose another path",
                path.display()
            )));
        }
        Err(_) => {
            nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o666))
                .map_err(|e| ProxyError::io(format!("create fifo {}", path.display()), e.into()))?;
        }
    }
    // The database server (another user) opens it for reading and writing.
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666));
    let thread_path = path.clone();
    let stop = shutdown.clone();
    std::thread::Builder::new()
        .name("pgkeel-fifo".into())
        .spawn(move || command_loop(&thread_path, &shared, &stop))
        .map_err(|e| ProxyError::io("start the fifo thread", e))?;
    // Blocking opens cannot be cancelled; on shutdown, open the other end once to release them.
    tokio::spawn(async move {
        shutdown.cancelled().await;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path);
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path);
    });
    Ok(())
}

fn command_loop(path: &std::path::Path, shared: &ProxyShared, stop: &CancellationToken) {
    loop {
        let mut command = String::new();
        let read = std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut command));
        if stop.is_cancelled() {
            return;
        }
        if let Err(e) = read {
            tracing::warn!(fifo = %path.display(), error = %e, "cannot read the fifo");
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let command = command.trim_end_matches(['\n', '\r']);
        let answer = answer(command, shared);
        tracing::info!(
            command,
            answer = answer.lines().next().unwrap_or(""),
            "fifo command"
        );
        let written = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(answer.as_bytes()));
        if stop.is_cancelled() {
            return;
        }
        if let Err(e) = written {
            tracing::warn!(fifo = %path.display(), error = %e, "cannot answer on the fifo");
        }
    }
}

/// The fifo answer to one command.
pub(crate) fn answer(command: &str, shared: &ProxyShared) -> String {
    match parse_command(command) {
        Ok(Command::RecorderDump) => citus::render(&shared.recorder.drain()),
        Ok(Command::RecorderReset) => {
            shared.recorder.clear();
            shared.reset_connection_ids();
            String::new()
        }
        Ok(Command::SetRules(_)) => match shared.set_rules(command) {
            Ok(_) => "\n".to_owned(),
            Err(e) => copy_text(&e.to_string()),
        },
        Err(e) => copy_text(&e.to_string()),
    }
}

/// One line of COPY text: backslashes, tabs and line breaks escaped.
fn copy_text(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!("{escaped}\n")
}
