//! Reading process state from `/proc`: whether a pid is alive, and a process's children.

use std::path::Path;

/// True when `pid` names a process that is not a zombie.
pub(crate) fn is_alive(pid: u32) -> bool {
    match stat(pid) {
        Some(stat) => stat.state != 'Z' && stat.state != 'X',
        None => false,
    }
}

/// Pids of the live processes whose parent is `parent`.
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| matches!(stat(*pid), Some(s) if s.ppid == parent && s.state != 'Z'))
        .collect()
}

struct Stat {
    state: char,
    ppid: u32,
}

fn stat(pid: u32) -> Option<Stat> {
    let text =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&text)
}

/// Parses `pid (comm) S ppid ...`; `comm` may contain spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_comm = &text[text.rfind(')')? + 1..];
    let mut fields = after_comm.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = parse_stat("1234 (postgres: a) b) S 77 1234 1234 0 -1").unwrap();
        assert_eq!((s.state, s.ppid), ('S', 77));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn sees_itself_alive() {
        assert!(is_alive(std::process::id()));
    }
}
