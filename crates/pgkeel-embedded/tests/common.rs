//! `/proc` inspection shared by the tests (connecting and waiting come from `pgkeel-testkit`).

/// True while `pid` is a live (non-zombie) process.
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next()
                .unwrap();
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Live children of `parent`.
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let mut f = s[s.rfind(')')? + 1..].split_whitespace();
                    let state = f.next()?.to_owned();
                    let ppid: u32 = f.next()?.parse().ok()?;
                    Some(ppid == parent && state != "Z")
                })
                .unwrap_or(false)
        })
        .collect()
}

/// Waits until none of `pids` is alive (bounded by the test kit's liveness guard).
pub(crate) async fn wait_gone(pids: &[u32]) {
    let what = format!("the processes {pids:?} exit");
    pgkeel_testkit::until(&what, || !pids.iter().any(|p| alive(*p))).await;
}
