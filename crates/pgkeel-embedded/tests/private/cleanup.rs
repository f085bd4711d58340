//! Nothing is left behind: not by a dropped handle, not by a killed test process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use pgkeel_embedded::harness::private_cluster;

use crate::common::{alive, children_of, wait_gone};

#[tokio::test]
async fn dropping_the_handle_leaves_no_process_and_no_directory() {
    let cluster = private_cluster().start().unwrap();
    let postmaster = cluster.pid().unwrap();
    let mut pids = children_of(postmaster);
    assert!(
        !pids.is_empty(),
        "a running postmaster has helper processes"
    );
    pids.push(postmaster);
    let run_dir = cluster.socket_dir().to_owned();
    assert!(run_dir.exists());

    drop(cluster);
    wait_gone(&pids).await;
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
}

const CHILD_ENV: &str = "PGKEEL_TEST_CLUSTER_CHILD";

/// Not a test on its own: the body of the child process used below.
#[test]
#[ignore = "helper: runs only as the child process of a_killed_test_process_leaves_no_server"]
fn cluster_holding_child_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let cluster = private_cluster().start().unwrap();
    println!(
        "READY {} {}",
        cluster.pid().unwrap(),
        cluster.socket_dir().display()
    );
    std::thread::sleep(Duration::from_secs(600));
}

#[tokio::test]
async fn a_killed_test_process_leaves_no_server() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "private::cleanup::cluster_holding_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.contains("READY "))
        .expect("child did not report a running cluster");
    // libtest may print `test <name> ... ` before the output on the same line.
    let mut words = line[line.find("READY ").unwrap()..]
        .split_whitespace()
        .skip(1);
    let postmaster: u32 = words.next().unwrap().parse().unwrap();
    let mut pids = children_of(postmaster);
    assert!(!pids.is_empty());
    pids.push(postmaster);
    assert!(alive(postmaster));

    child.kill().unwrap(); // SIGKILL: no destructor, no atexit
    child.wait().unwrap();
    wait_gone(&pids).await;
}
