//! t0: when PostgreSQL accepts connections again. A thread of its own (not the tokio runtime,
//! whose timers tick in whole milliseconds) tries a bare TCP connect every millisecond and
//! reads `postmaster.pid` for the `ready` status `pg_ctl` waits for.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What the prober saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    /// The first TCP connect that succeeded (the postmaster listens).
    pub(crate) listening: Option<Instant>,
    /// The first time `postmaster.pid` said `ready` (it takes sessions, no more 57P03).
    pub(crate) ready: Option<Instant>,
    /// Checks made (each one TCP connect and/or one read of the pid file).
    pub(crate) checks: u64,
}

/// Starts probing now; the thread ends when both moments were seen or after `limit`.
pub(crate) fn spawn(port: u16, data_dir: PathBuf, limit: Duration) -> JoinHandle<Seen> {
    std::thread::spawn(move || {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let pid_file = data_dir.join("postmaster.pid");
        let begun = Instant::now();
        let mut seen = Seen {
            listening: None,
            ready: None,
            checks: 0,
        };
        while begun.elapsed() < limit {
            seen.checks += 1;
            if seen.listening.is_none()
                && TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok()
            {
                seen.listening = Some(Instant::now());
            }
            if seen.ready.is_none() && pid_file_says_ready(&pid_file) {
                seen.ready = Some(Instant::now());
            }
            if seen.listening.is_some() && seen.ready.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        seen
    })
}

/// Line 8 of `postmaster.pid` is the postmaster's status (`starting`, `ready`, `stopping`).
fn pid_file_says_ready(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| text.lines().nth(7).is_some_and(|s| s.trim() == "ready"))
        .unwrap_or(false)
}

/// The server log's own times for the restart (`log_line_prefix = '%m '`, UTC; millisecond
/// resolution, truncated), as instants: when it said it listens on the TCP address and when
/// it said it is ready to accept connections. A cross-check of the prober's precision.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Logged {
    pub(crate) listening: Option<Instant>,
    pub(crate) ready: Option<Instant>,
}

/// A wall-clock time and the instant taken together with it, to turn one into the other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Anchor {
    instant: Instant,
    wall: SystemTime,
}

impl Anchor {
    pub(crate) fn now() -> Self {
        Anchor {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn instant(&self, wall: SystemTime) -> Option<Instant> {
        match wall.duration_since(self.wall) {
            Ok(after) => self.instant.checked_add(after),
            Err(before) => self.instant.checked_sub(before.duration()),
        }
    }
}

/// Reads the server log from byte `from` on.
pub(crate) fn logged(log: &Path, from: u64, anchor: Anchor) -> Logged {
    let Ok(text) = std::fs::read(log) else {
        return Logged::default();
    };
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let mut seen = Logged::default();
    for line in text.lines() {
        let slot = if line.contains("listening on IPv4 address") {
            &mut seen.listening
        } else if line.contains("ready to accept connections") {
            &mut seen.ready
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = parse_utc_millis(line).and_then(|wall| anchor.instant(wall));
        }
    }
    seen
}

/// `2026-11-22 10:56:29.123 UTC ...` → the time it names.
fn parse_utc_millis(line: &str) -> Option<SystemTime> {
    let mut parts = line.split_whitespace();
    let (date, time, zone) = (parts.next()?, parts.next()?, parts.next()?);
    if zone != "UTC" {
        return None;
    }
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, millis) = time.split_once('.')?;
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let millis: u64 = millis.parse().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_log_times() {
        let t = parse_utc_millis("2026-11-22 10:56:29.123 UTC [77] LOG:  x");
        let secs = t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok());
        assert_eq!(secs, Some(Duration::from_millis(1_795_344_989_123)));
    }
}
