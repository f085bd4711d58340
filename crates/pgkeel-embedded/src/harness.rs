//! Test harness for every pgkeel crate: one shared cluster per test process with a fresh
//! database per test, and private clusters for tests that stop, kill or reconfigure Postgres.
//!
//! ```no_run
//! use pgkeel_embedded::harness::{TestDatabase, private_cluster};
//!
//! // Needs only SQL: a database of its own on the shared cluster.
//! let db = TestDatabase::new();
//! let url = db.url();
//!
//! // Stops or kills the server: a cluster of its own (put the test in a `private` module).
//! let cluster = private_cluster().start().unwrap();
//! cluster.kill().unwrap();
//! cluster.start().unwrap();
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::builder::ClusterBuilder;
use crate::cluster::Cluster;

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The defaults for test clusters: fsync off and room for many connections.
pub fn private_cluster() -> ClusterBuilder {
    Cluster::builder()
        .fsync_off()
        .setting("max_connections", "200")
}

/// The cluster shared by all tests of this process, started on first use and stopped when the
/// process exits (or killed with it).
///
/// # Panics
/// When the cluster cannot be started; the message names the cause (it is a test harness).
pub fn shared_cluster() -> &'static Cluster {
    let shared = SHARED.get_or_init(|| {
        let cluster = private_cluster().start().map_err(|e| e.to_string())?;
        register_exit_hook();
        Ok(cluster)
    });
    match shared {
        Ok(cluster) => cluster,
        #[allow(clippy::panic)]
        Err(e) => panic!("the shared test cluster could not start: {e}"),
    }
}

/// Statics are never dropped, so the shared cluster is closed from an `atexit` hook; if the
/// process is killed instead, the parent-death signal stops the server.
fn register_exit_hook() {
    extern "C" fn close_shared() {
        if let Some(Ok(cluster)) = SHARED.get() {
            let _ = cluster.close();
        }
    }
    #[allow(unsafe_code)]
    // SAFETY: `close_shared` is a plain `extern "C" fn()` that never unwinds across the FFI
    // boundary (close() returns errors instead of panicking).
    unsafe {
        libc::atexit(close_shared);
    }
}

/// A database of its own for one test, dropped (with its sessions) when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase<'a> {
    cluster: &'a Cluster,
    name: String,
}

impl TestDatabase<'static> {
    /// A new database on the shared cluster.
    ///
    /// # Panics
    /// When the shared cluster cannot start or the database cannot be created.
    pub fn new() -> Self {
        TestDatabase::on(shared_cluster())
    }
}

impl Default for TestDatabase<'static> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> TestDatabase<'a> {
    /// A new database on `cluster`.
    ///
    /// # Panics
    /// When the database cannot be created.
    pub fn on(cluster: &'a Cluster) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = cluster.create_database(&name) {
            #[allow(clippy::panic)]
            {
                panic!("cannot create test database {name}: {e}");
            }
        }
        TestDatabase { cluster, name }
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// TCP URL of this database.
    pub fn url(&self) -> String {
        self.cluster.url_for(&self.name)
    }

    /// Unix-socket URL of this database (superuser, trust).
    pub fn socket_url(&self) -> String {
        self.cluster.socket_url_for(&self.name)
    }

    /// The cluster holding this database.
    pub fn cluster(&self) -> &'a Cluster {
        self.cluster
    }
}

impl Drop for TestDatabase<'_> {
    fn drop(&mut self) {
        if self.cluster.is_running()
            && let Err(e) = self.cluster.drop_database(&self.name)
        {
            tracing::warn!(database = %self.name, error = %e, "cannot drop test database");
        }
    }
}
