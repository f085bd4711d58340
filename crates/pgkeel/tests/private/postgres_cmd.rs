//! `pgkeel postgres` as a user runs it: psql connects, signals stop it cleanly, nothing stays.

use crate::common::{RunningPostgres, data_dir, psql, server_processes, wait_gone};

#[test]
fn prints_a_url_psql_connects_to_and_sigterm_leaves_nothing_behind() {
    let mut pg = RunningPostgres::start(&[]);
    assert_eq!(psql(&pg.url, "SHOW wal_level"), "logical");
    let data = data_dir(&pg.url);
    let run_dir = data.parent().unwrap().to_owned();
    let pids = server_processes(&data);

    pg.signal(libc::SIGTERM);
    let status = pg.child.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_gone(&pids);
    assert!(!run_dir.exists(), "{} left behind", run_dir.display());
}

#[test]
fn sigint_stops_it_too() {
    let mut pg = RunningPostgres::start(&["--no-fsync"]);
    assert_eq!(psql(&pg.url, "SHOW fsync"), "off");
    let pids = server_processes(&data_dir(&pg.url));
    pg.signal(libc::SIGINT);
    assert!(pg.child.wait().unwrap().success());
    wait_gone(&pids);
}

#[test]
fn a_killed_pgkeel_takes_its_server_with_it() {
    let mut pg = RunningPostgres::start(&[]);
    let pids = server_processes(&data_dir(&pg.url));
    pg.signal(libc::SIGKILL);
    pg.child.wait().unwrap();
    wait_gone(&pids);
}

#[test]
fn keep_then_data_dir_brings_the_same_data_back() {
    let mut pg = RunningPostgres::start(&["--keep", "--set", "work_mem=7MB"]);
    assert_eq!(psql(&pg.url, "SHOW work_mem"), "7MB");
    psql(&pg.url, "CREATE TABLE kept AS SELECT 42 AS answer");
    let data = data_dir(&pg.url);
    pg.signal(libc::SIGTERM);
    assert!(pg.child.wait().unwrap().success());
    assert!(data.join("PG_VERSION").is_file(), "--keep removed the data");

    let mut again = RunningPostgres::start(&["--data-dir", data.to_str().unwrap()]);
    assert_eq!(psql(&again.url, "SELECT answer FROM kept"), "42");
    again.signal(libc::SIGTERM);
    assert!(again.child.wait().unwrap().success());
    assert!(
        data.join("PG_VERSION").is_file(),
        "--data-dir must never delete data"
    );
    std::fs::remove_dir_all(data.parent().unwrap()).unwrap();
}

#[test]
fn fixed_port_and_password_role() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut pg =
        RunningPostgres::start(&["--port", &port.to_string(), "--password-role", "app:pw-123"]);
    assert_eq!(
        pg.url,
        format!("postgres://app:pw-123@127.0.0.1:{port}/postgres")
    );
    assert_eq!(psql(&pg.url, "SELECT current_user"), "app");
    pg.signal(libc::SIGTERM);
    assert!(pg.child.wait().unwrap().success());
}
