//! `pgkeel proxy` and `pgkeel fault` as a user drives them from a shell.

use std::process::Command;

use pgkeel_embedded::harness::private_cluster;

use super::proxy_support::RunningProxy;
use crate::common::{pgkeel, psql_result};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn proxy_and_fault_from_the_command_line() {
    let cluster = private_cluster().start().unwrap();
    let proxy = RunningProxy::start(&format!("127.0.0.1:{}", cluster.port()), &["--seed", "7"]);
    assert_eq!(
        psql_result(&proxy.url(), "SELECT 'hello'").unwrap(),
        "hello"
    );

    let set = proxy.fault(&[r#"conn.onQuery(query="^SELECT 'boom'").kill()"#]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert_eq!(text(&set.stdout).trim(), "rules version 1 in force");
    assert!(psql_result(&proxy.url(), "SELECT 'boom'").is_err());
    assert_eq!(psql_result(&proxy.url(), "SELECT 'fine'").unwrap(), "fine");

    let bad = proxy.fault(&["conn.onQuery(query=\"x\").kil()"]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = text(&bad.stderr);
    assert!(stderr.contains("did you mean `kill`"), "{stderr}");
    assert!(
        stderr.contains("previous rules (version 1) stay in force"),
        "{stderr}"
    );

    let wait = proxy.fault(&["--wait-fired", "5s", "--rule", "0"]);
    assert!(wait.status.success(), "{}", text(&wait.stderr));
    let timeout = proxy.fault(&["--wait-fired", "100ms", "--min", "99"]);
    assert_eq!(timeout.status.code(), Some(1));

    let shown = proxy.fault(&[]);
    assert!(
        text(&shown.stdout).contains("fired      1  conn.onQuery"),
        "{}",
        text(&shown.stdout)
    );

    let dump = proxy.fault(&["--dump", "--json"]);
    let records: Vec<serde_json::Value> = text(&dump.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "kill" && r["summary"] == "SELECT 'boom'")
    );
    let table = proxy.fault(&["--dump"]);
    assert!(
        text(&table.stdout).contains("[0] kill"),
        "{}",
        text(&table.stdout)
    );

    let cleared = proxy.fault(&["--reset-recording", "--connections", "--json"]);
    assert!(cleared.status.success());
    assert_eq!(text(&proxy.fault(&["--dump", "--json"]).stdout), "");

    // An empty rule string removes every rule.
    assert!(proxy.fault(&[""]).status.success());
    assert_eq!(psql_result(&proxy.url(), "SELECT 'boom'").unwrap(), "boom");
}

#[test]
fn proxy_stops_on_sigterm_and_reports_a_dead_control_api() {
    let cluster = private_cluster().start().unwrap();
    let mut proxy = RunningProxy::start(&format!("127.0.0.1:{}", cluster.port()), &[]);
    let pid = nix::unistd::Pid::from_raw(proxy.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(proxy.child.wait().unwrap().success());
    let out = proxy.fault(&["--connections"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach the control API"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn proxy_refuses_bad_options_clearly() {
    let out = pgkeel()
        .args(["proxy", "--upstream", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("neither host:port"),
        "{}",
        text(&out.stderr)
    );
    let out = pgkeel()
        .args([
            "proxy",
            "--upstream",
            "127.0.0.1:1",
            "--control",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--control-allow-remote"),
        "{}",
        text(&out.stderr)
    );
    let out = pgkeel()
        .args([
            "proxy",
            "--upstream",
            "127.0.0.1:1",
            "--rules",
            "conn.nope()",
            "--control",
            "none",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown filter or action `nope`"),
        "{}",
        text(&out.stderr)
    );
}

/// A proxy started with a token answers `pgkeel fault` only when it sends the same token
/// (from --control-token or PGKEEL_CONTROL_TOKEN); without it the user is told what to set.
#[test]
fn fault_sends_the_control_token() {
    let cluster = private_cluster().start().unwrap();
    let token = "cli-token-0123456789";
    let proxy = RunningProxy::start_with_env(
        &format!("127.0.0.1:{}", cluster.port()),
        &[],
        &[("PGKEEL_CONTROL_TOKEN", token)],
    );
    let missing = proxy.fault(&["--connections"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("PGKEEL_CONTROL_TOKEN"),
        "{stderr}"
    );
    let wrong = proxy.fault(&["--control-token", "nope", "conn.allow()"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("401"),
        "{}",
        text(&wrong.stderr)
    );

    let set = proxy.fault(&[
        "--control-token",
        token,
        r#"conn.onQuery(query="^SELECT 'boom'").kill()"#,
    ]);
    assert!(set.status.success(), "{}", text(&set.stderr));
    assert_eq!(text(&set.stdout).trim(), "rules version 1 in force");
    assert!(psql_result(&proxy.url(), "SELECT 'boom'").is_err());
    let shown = pgkeel()
        .args(["fault", "--json"])
        .env("PGKEEL_CONTROL", &proxy.control)
        .env("PGKEEL_CONTROL_TOKEN", token)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert!(
        text(&shown.stdout).contains("SELECT 'boom'"),
        "{}",
        text(&shown.stdout)
    );
}

#[test]
fn a_remote_control_api_needs_a_token() {
    let out = pgkeel()
        .args([
            "proxy",
            "--upstream",
            "127.0.0.1:1",
            "--control",
            "0.0.0.0:0",
            "--control-allow-remote",
        ])
        .env_remove("PGKEEL_CONTROL_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--control-allow-remote requires a token")
            && stderr.contains("PGKEEL_CONTROL_TOKEN"),
        "{stderr}"
    );
}

#[test]
fn a_dead_upstream_is_reported_to_the_client() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = RunningProxy::start(&format!("127.0.0.1:{port}"), &[]);
    let err = psql_result(&proxy.url(), "SELECT 1").unwrap_err();
    assert!(err.contains("cannot reach the upstream server"), "{err}");
    let _ = Command::new("true").status();
}
