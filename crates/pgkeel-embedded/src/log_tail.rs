//! The last lines of the server log, quoted in startup errors.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// At most `lines` lines from the end of `path` (reads only the last 32 KiB).
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 32 * 1024;
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(log {} cannot be read)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(WINDOW);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    let tail = all[from..].join("\n");
    if tail.is_empty() {
        "(log is empty)".to_owned()
    } else {
        tail
    }
}
