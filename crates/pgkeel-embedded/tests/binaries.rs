//! Finding PostgreSQL binaries, and the error when there are none.

use std::ffi::OsString;
use std::path::PathBuf;

use pgkeel_embedded::{Error, PgBinaries, SearchPaths};

#[test]
fn missing_binaries_error_names_every_searched_path_and_the_fix() {
    let search = SearchPaths {
        pg_bin: None,
        path: Some(OsString::from("/nonexistent/a:/nonexistent/b")),
        lib_root: PathBuf::from("/nonexistent/lib/postgresql"),
    };
    let err = PgBinaries::find_in(&search).unwrap_err();
    assert!(err.is_binaries_missing(), "{err:?}");
    let text = err.to_string();
    for expected in [
        "PGKEEL_PG_BIN (unset)",
        "/nonexistent/a (PATH)",
        "/nonexistent/b (PATH)",
        "/nonexistent/lib/postgresql/*/bin",
        "apt-get install postgresql",
    ] {
        assert!(text.contains(expected), "`{expected}` missing from: {text}");
    }
}

#[test]
fn pg_bin_without_initdb_is_an_error_naming_the_directory() {
    let empty = std::env::temp_dir().join(format!("pgkeel-test-empty-bin-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let search = SearchPaths {
        pg_bin: Some(empty.clone().into_os_string()),
        path: None,
        lib_root: PathBuf::from("/usr/lib/postgresql"),
    };
    let err = PgBinaries::find_in(&search).unwrap_err();
    std::fs::remove_dir(&empty).unwrap();
    match &err {
        Error::IncompleteBinDir { dir, missing } => {
            assert_eq!(dir, &empty);
            assert_eq!(*missing, "initdb");
        }
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(err.to_string().contains("PGKEEL_PG_BIN"));
}

#[test]
fn finds_the_installed_binaries_and_their_version() {
    let binaries = PgBinaries::find().expect("PostgreSQL must be installed for the test suite");
    assert!(binaries.initdb().is_file());
    assert!(binaries.postgres().is_file());
    assert!(binaries.major_version() >= 13, "{}", binaries.version());
}

#[test]
fn the_debian_layout_is_found_without_path() {
    let search = SearchPaths {
        pg_bin: None,
        path: None,
        lib_root: PathBuf::from(pgkeel_embedded::DEFAULT_LIB_ROOT),
    };
    let found = PgBinaries::find_in(&search).unwrap();
    assert!(found.dir().starts_with(pgkeel_embedded::DEFAULT_LIB_ROOT));
}
