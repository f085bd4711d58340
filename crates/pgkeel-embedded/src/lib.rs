//! Throwaway PostgreSQL clusters from the local binaries, for `pgkeel postgres`, demos and tests.
//!
//! ```no_run
//! use pgkeel_embedded::Cluster;
//!
//! let cluster = Cluster::builder().start()?;          // initdb (cached) + postgres, ~0.3 s
//! println!("DATABASE_URL={}", cluster.url());        // postgres://postgres@127.0.0.1:PORT/postgres
//! cluster.create_database("app")?;
//! cluster.kill()?;                                    // SIGKILL the postmaster, like a crash
//! cluster.start()?;                                   // crash recovery, same data and port
//! // dropped: server stopped, temporary directory removed
//! # Ok::<(), pgkeel_embedded::Error>(())
//! ```
//!
//! As root (PostgreSQL refuses to run as root) the server runs as the `postgres` system user.
//! Every server process gets a parent-death signal, so a killed test leaves no server behind.

mod admin_reader;
mod admin_sql;
mod binaries;
mod builder;
mod cluster;
mod error;
pub mod harness;
mod hba;
mod initdb;
mod log_tail;
mod postmaster;
mod procfs;
mod run_as;
mod run_dir;
mod spawn;
mod tls;
mod url;

pub use admin_sql::Row;
pub use binaries::{DEFAULT_LIB_ROOT, PG_BIN_ENV, PgBinaries, SearchPaths};
pub use builder::{ClusterBuilder, DEFAULT_SETTINGS, PasswordRole};
pub use cluster::{Cluster, HOST};
pub use error::{Error, Result, SearchedPaths};
pub use initdb::{NO_CACHE_ENV, SUPERUSER};
pub use postmaster::Shutdown;
pub use run_as::{DEFAULT_PG_USER, PG_USER_ENV};
pub use spawn::spawn_tied;
pub use tls::{TcpTls, TlsFiles};
