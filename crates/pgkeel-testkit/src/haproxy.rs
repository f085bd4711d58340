//! A real HAProxy (Debian's `haproxy`) in TCP mode in front of a test cluster, as in front of
//! Patroni: it accepts connections while PostgreSQL is down and closes them when no server is
//! up. Started on a free loopback port with a private config; stopped on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::wait::LIVENESS;

/// The HAProxy configuration pgkeel documents for a single PostgreSQL server: TCP mode, a
/// health check every 100 ms that marks the server down after one failure and up after one
/// success, and sessions to a server marked down shut at once.
pub const HAPROXY_SERVER_LINE: &str =
    "check inter 100ms fall 1 rise 1 on-marked-down shutdown-sessions";

/// A running HAProxy.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Haproxy {
    /// Starts HAProxy on a free port of 127.0.0.1, forwarding to 127.0.0.1:`upstream_port`.
    ///
    /// # Panics
    /// When `haproxy` is not installed (`apt-get install haproxy`) or does not start.
    pub fn start(upstream_port: u16) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir =
            std::env::temp_dir().join(format!("pgkeel-haproxy-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 1000\n\
                 defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1h\n  timeout server 1h\n\
                 listen postgres\n  bind 127.0.0.1:{port}\n  \
                 server pg 127.0.0.1:{upstream_port} {HAPROXY_SERVER_LINE}\n"
            ),
        )
        .unwrap();
        // Debian installs it in /usr/sbin, which a non-root PATH may lack.
        let program = ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("haproxy");
        let child = Command::new(program)
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run haproxy ({e}); install it: apt-get install haproxy")
            });
        let haproxy = Haproxy { child, port, dir };
        let deadline = Instant::now() + LIVENESS;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        haproxy
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
