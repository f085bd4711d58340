//! `pgkeel postgres` argument and environment errors (no server is started).

use crate::common::pgkeel;

#[test]
fn missing_binaries_are_reported_with_the_searched_path_and_exit_code_1() {
    let out = pgkeel()
        .args(["postgres"])
        .env("PGKEEL_PG_BIN", "/nonexistent/pg/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no DATABASE_URL on failure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/pg/bin"), "{stderr}");
    assert!(stderr.contains("PGKEEL_PG_BIN"), "{stderr}");
}

#[test]
fn a_malformed_setting_is_a_usage_error() {
    let out = pgkeel()
        .args(["postgres", "--set", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NAME=VALUE"), "{stderr}");
}

#[test]
fn a_managed_setting_is_refused_with_the_reason() {
    let out = pgkeel()
        .args(["postgres", "--set", "port=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("managed by pgkeel"), "{stderr}");
}
