//! `pgkeel demo` as a newcomer runs it: a 15 s run holds every invariant (read from its JSON),
//! with every fault kind fired; the same run with the stream sabotaged (WAL acknowledged
//! before the sink holds the events) exits 1 with changes lost; Ctrl-C stops it and leaves
//! no server and no run directory behind.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::common::pgkeel;

fn demo(args: &[&str]) -> (Output, serde_json::Value, PathBuf) {
    let child = pgkeel()
        .args(["demo", "--duration", "15s", "--seed", "1", "--json"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = std::env::temp_dir().join(format!("pgkeel-demo-{}", child.id()));
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON report ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report, run_dir)
}

fn invariant(report: &serde_json::Value, name: &str) -> bool {
    report["invariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no invariant {name:?} in {report}"))["held"]
        .as_bool()
        .unwrap()
}

#[test]
fn a_short_demo_holds_every_invariant_under_every_fault_kind() {
    let (output, report, run_dir) = demo(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{report:#}\n{stderr}");
    assert_eq!(report["passed"], true);

    let changes = &report["changes"];
    let committed = changes["committed"].as_u64().unwrap();
    assert!(committed > 100, "{changes}");
    assert_eq!(changes["delivered"].as_u64(), Some(committed), "{changes}");
    assert_eq!(changes["lost"], 0);
    assert_eq!(changes["unexpected"], 0);

    let jobs = &report["jobs"];
    let enqueued = jobs["enqueued"].as_u64().unwrap();
    assert!(enqueued > 20, "{jobs}");
    assert_eq!(jobs["executed"].as_u64(), Some(enqueued), "{jobs}");
    assert_eq!(jobs["lost"], 0);
    assert_eq!(jobs["executed_twice"], 0);

    let caches = &report["caches"];
    assert_eq!(caches["converged"], true, "{caches}");
    let version = caches["database_version"].as_u64().unwrap();
    assert!(version > 1, "the config never changed: {caches}");
    for instance in caches["instances"].as_array().unwrap() {
        assert_eq!(instance["version"].as_u64(), Some(version), "{caches}");
        assert_eq!(instance["matches_database"], true, "{caches}");
    }

    let kinds = [
        "proxy-kill",
        "stall",
        "error-40001",
        "error-57P01",
        "latency",
        "postgres-restart",
        "worker-kill",
        "stream-kill",
    ];
    let recovery = report["recovery"].as_array().unwrap();
    for kind in kinds {
        let row = recovery
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("no recovery row for {kind}: {report}"));
        assert!(
            row["fired"].as_u64().unwrap() >= 1,
            "{kind} never fired: {row}"
        );
        assert!(
            row["p99_ms"].as_f64().is_some(),
            "{kind} never recovered: {row}"
        );
    }
    for fault in report["faults"].as_array().unwrap() {
        assert_eq!(fault["fired"], true, "{fault}");
    }
    assert!(
        report["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["held"] == true)
    );
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
    // Progress went to stderr as plain lines (not a terminal), one per fault.
    assert!(stderr.contains("postgres-restart"), "{stderr}");
}

#[test]
fn acknowledging_the_wal_before_the_sink_holds_it_fails_the_demo() {
    let (output, report, _) = demo(&["--sabotage", "ack-early"]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["passed"], false);
    assert_eq!(report["sabotage"], "ack-early");
    assert!(
        report["changes"]["lost"].as_u64().unwrap() > 0,
        "{}",
        report["changes"]
    );
    assert!(!invariant(&report, "no committed change lost"));
    // Only the sabotaged part fails: the jobs and caches still hold.
    assert!(invariant(&report, "no enqueued job lost"));
    assert!(invariant(&report, "caches converged"));
}

#[test]
fn ctrl_c_stops_the_demo_and_leaves_nothing_behind() {
    let mut child = pgkeel()
        .args(["demo", "--duration", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run_dir = std::env::temp_dir().join(format!("pgkeel-demo-{}", child.id()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("on port ").nth(1) {
            port = rest.split(',').next().map(|p| p.trim().to_owned());
        }
        if line.contains("faults: started") {
            break;
        }
    }
    let port = port.expect("the demo printed the cluster's port");
    assert!(run_dir.exists());
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
    let refused = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err();
    assert!(refused, "PostgreSQL still listens on {port}");
}
