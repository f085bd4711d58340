//! Errors of pgkeel-embedded: each one says what failed, why, and what the user can do.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a cluster could not be found, created, started, stopped or queried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No directory holding both `initdb` and `postgres` was found.
    #[error(
        "PostgreSQL server binaries (initdb and postgres) not found; searched: {searched}. \
         Install them (Debian/Ubuntu: `apt-get install postgresql`) or set PGKEEL_PG_BIN to the \
         directory that holds initdb and postgres (e.g. /usr/lib/postgresql/15/bin)"
    )]
    BinariesNotFound {
        /// Every place that was looked at, in search order.
        searched: SearchedPaths,
    },

    /// `PGKEEL_PG_BIN` (or an explicit directory) lacks a required program.
    #[error(
        "{dir} does not contain an executable `{missing}`; point PGKEEL_PG_BIN at the directory \
         that holds initdb and postgres (e.g. /usr/lib/postgresql/15/bin)"
    )]
    IncompleteBinDir {
        /// The directory that was given.
        dir: PathBuf,
        /// The program that is not there.
        missing: &'static str,
    },

    /// Running as root, but the user PostgreSQL should run as does not exist.
    #[error(
        "running as root: PostgreSQL refuses to run as root, so pgkeel runs it as the system user \
         `{user}`, but no such user exists; create it (`useradd --system --user-group {user}`), set \
         PGKEEL_PG_USER to another unprivileged user, or run pgkeel as a non-root user"
    )]
    RunAsUserMissing {
        /// The user that was looked up.
        user: String,
    },

    /// The user chosen to run PostgreSQL cannot be used.
    #[error("cannot run PostgreSQL as `{user}`: {reason}")]
    RunAsUserUnusable {
        /// The user that was chosen.
        user: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A builder option or a setting is invalid.
    #[error("invalid cluster configuration: {0}")]
    InvalidConfig(String),

    /// A file-system or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, e.g. "create directory /tmp/x".
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `initdb` exited unsuccessfully.
    #[error("initdb failed ({status}) for data directory {data_dir}; its output:\n{output}")]
    Initdb {
        /// The data directory being initialised.
        data_dir: PathBuf,
        /// How initdb exited.
        status: ExitStatus,
        /// What initdb printed.
        output: String,
    },

    /// The postmaster exited before it became ready.
    #[error("PostgreSQL exited during startup ({status}); last lines of {log}:\n{tail}")]
    StartupExited {
        /// How the postmaster exited.
        status: ExitStatus,
        /// The server log file.
        log: PathBuf,
        /// The end of the server log.
        tail: String,
    },

    /// The postmaster did not report readiness in time.
    #[error(
        "PostgreSQL did not become ready within {timeout:?}: waited for the postmaster (pid {pid}) \
         to write status `ready` into {pid_file} (last status seen: {last_status}); last lines of \
         {log}:\n{tail}"
    )]
    StartupTimeout {
        /// How long was waited.
        timeout: Duration,
        /// The postmaster's pid.
        pid: u32,
        /// The `postmaster.pid` file that was polled.
        pid_file: PathBuf,
        /// The status line last read from it.
        last_status: String,
        /// The server log file.
        log: PathBuf,
        /// The end of the server log.
        tail: String,
    },

    /// A statement sent on the admin connection failed.
    #[error(
        "SQL failed on the admin connection: {severity}: {message} (SQLSTATE {code}) in `{sql}`"
    )]
    Sql {
        /// SQLSTATE code.
        code: String,
        /// Severity (ERROR, FATAL, ...).
        severity: String,
        /// The server's message.
        message: String,
        /// The statement that failed.
        sql: String,
    },

    /// The admin connection saw something it does not understand.
    #[error("admin connection to {socket}: {reason}")]
    AdminProtocol {
        /// The unix socket used.
        socket: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// The operation needs a running server.
    #[error("the cluster is not running; call start() first")]
    NotRunning,

    /// `start()` was called on a running cluster.
    #[error("the cluster is already running (postmaster pid {pid})")]
    AlreadyRunning {
        /// The running postmaster's pid.
        pid: u32,
    },
}

impl Error {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }

    /// True when the PostgreSQL binaries could not be found or are incomplete.
    pub fn is_binaries_missing(&self) -> bool {
        matches!(
            self,
            Error::BinariesNotFound { .. } | Error::IncompleteBinDir { .. }
        )
    }

    /// True when the server failed to start (exited early or never became ready).
    pub fn is_startup_failure(&self) -> bool {
        matches!(
            self,
            Error::StartupExited { .. } | Error::StartupTimeout { .. }
        )
    }

    /// The SQLSTATE of a failed admin statement, if this is one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Error::Sql { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// The places searched for PostgreSQL binaries, for error messages.
#[derive(Debug, Clone, Default)]
pub struct SearchedPaths(pub Vec<String>);

impl std::fmt::Display for SearchedPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&self.0.join(", "))
    }
}
