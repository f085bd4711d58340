//! `Cluster`: a handle on one throwaway (or kept) PostgreSQL server — its addresses, its
//! lifecycle (stop, start, restart, kill) and admin SQL. Dropping it stops the server and
//! removes its temporary directory.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use pgkeel_wire::sql::{quote_ident, quote_literal};

use crate::admin_sql::{self, Row};
use crate::binaries::PgBinaries;
use crate::builder::{ClusterBuilder, PasswordRole};
use crate::error::{Error, Result};
use crate::initdb::{self, SUPERUSER};
use crate::log_tail::log_tail;
use crate::postmaster::{Postmaster, Shutdown};
use crate::run_as::RunAs;
use crate::tls::{self, TlsFiles};
use crate::{hba, run_dir, url};

/// The address every cluster listens on.
pub const HOST: &str = "127.0.0.1";

const ADMIN_TIMEOUT: Duration = Duration::from_secs(120);
const PORT_ATTEMPTS: usize = 5;

/// A running (or stopped) PostgreSQL cluster. All methods take `&self`, so one cluster can be
/// shared between threads and tasks; lifecycle calls are serialised internally.
#[derive(Debug)]
pub struct Cluster {
    binaries: PgBinaries,
    run_as: RunAs,
    run_dir: PathBuf,
    data_dir: PathBuf,
    temporary_data: bool,
    port: u16,
    server_args: Vec<OsString>,
    password_role: Option<PasswordRole>,
    tls: Option<TlsFiles>,
    start_timeout: Duration,
    stop_timeout: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    postmaster: Option<Postmaster>,
    keep: bool,
    closed: bool,
}

impl Cluster {
    /// A builder with the defaults (see [`ClusterBuilder`]).
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    pub(crate) fn create(b: ClusterBuilder) -> Result<Self> {
        let begun = std::time::Instant::now();
        let tcp_method = b.tcp_auth_method().to_owned();
        let binaries = match b.binaries {
            Some(binaries) => binaries,
            None => PgBinaries::find()?,
        };
        tracing::debug!(elapsed = ?begun.elapsed(), dir = %binaries.dir().display(), "binaries found");
        let run_as = RunAs::resolve(b.run_as_user.as_deref())?;
        tracing::debug!(elapsed = ?begun.elapsed(), user = run_as.name(), "user resolved");
        let run_dir = run_dir::create(&run_as)?;
        tracing::debug!(elapsed = ?begun.elapsed(), dir = %run_dir.display(), "run directory created");
        let cleanup = RemoveOnError(Some(run_dir.clone()));

        let (data_dir, temporary_data) = match &b.data_dir {
            Some(dir) => {
                let dir = std::path::absolute(dir)
                    .map_err(|e| Error::io(format!("resolve {}", dir.display()), e))?;
                prepare_kept_data_dir(&binaries, &run_as, &dir)?;
                (dir, false)
            }
            None => {
                let dir = run_dir.join("data");
                initdb::create_data_dir(&binaries, &run_as, &dir, b.initdb_cache)?;
                (dir, true)
            }
        };

        tracing::debug!(elapsed = ?begun.elapsed(), "data directory ready");
        let hba_path = run_dir.join("pg_hba.conf");
        hba::write(&hba_path, &tcp_method, b.tls)?;
        let mut settings = b.settings;
        let tls = match b.tls {
            Some(_) => {
                let files = tls::generate(
                    &run_dir.join("tls"),
                    &run_as,
                    b.password_role
                        .as_ref()
                        .map_or(SUPERUSER, |r| r.name.as_str()),
                )?;
                for (name, value) in files.settings() {
                    settings.insert(name.to_owned(), value);
                }
                Some(files)
            }
            None => None,
        };
        if b.password_role.is_some() {
            let encryption = if tcp_method == "md5" {
                "md5"
            } else {
                "scram-sha-256"
            };
            settings
                .entry("password_encryption".to_owned())
                .or_insert_with(|| encryption.to_owned());
        }
        settings.insert(
            "unix_socket_directories".to_owned(),
            run_dir.display().to_string(),
        );
        settings.insert("hba_file".to_owned(), hba_path.display().to_string());
        let server_args_without_port: Vec<OsString> = settings
            .iter()
            .flat_map(|(k, v)| [OsString::from("-c"), OsString::from(format!("{k}={v}"))])
            .collect();

        let log = run_dir.join("postgres.log");
        let mut attempt = 0;
        let (port, server_args, postmaster) = loop {
            attempt += 1;
            let port = match b.port {
                Some(port) => port,
                None => free_port()?,
            };
            let mut args = server_args_without_port.clone();
            args.extend(["-c".into(), format!("port={port}").into()]);
            let mut postmaster =
                Postmaster::spawn(&binaries.postgres(), &run_as, &data_dir, &args, &log)?;
            match postmaster.wait_ready(&data_dir, &log, b.start_timeout) {
                Ok(()) => break (port, args, postmaster),
                Err(Error::StartupExited { tail, .. })
                    if b.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && tail.contains("Address already in use") =>
                {
                    tracing::debug!(port, "port taken meanwhile; trying another");
                }
                Err(e) => {
                    let _ = postmaster.shutdown(Shutdown::Immediate, b.stop_timeout);
                    return Err(e);
                }
            }
        };

        let cluster = Cluster {
            binaries,
            run_as,
            run_dir,
            data_dir,
            temporary_data,
            port,
            server_args,
            password_role: b.password_role,
            tls,
            start_timeout: b.start_timeout,
            stop_timeout: b.stop_timeout,
            state: Mutex::new(State {
                postmaster: Some(postmaster),
                keep: b.keep,
                closed: false,
            }),
        };
        cleanup.disarm();
        if let Some(role) = &cluster.password_role {
            let name = quote_ident(&role.name);
            cluster.admin_query(&format!(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN \
                 CREATE ROLE {name}; END IF; END $$; \
                 ALTER ROLE {name} WITH LOGIN SUPERUSER PASSWORD {}",
                quote_literal(&role.name),
                quote_literal(&role.password)
            ))?;
        }
        tracing::debug!(
            port = cluster.port,
            version = cluster.binaries.version(),
            data_dir = %cluster.data_dir.display(),
            user = cluster.run_as.name(),
            "postgres cluster ready"
        );
        Ok(cluster)
    }

    // ---- addresses -------------------------------------------------------------------------

    /// The CA, server and client certificate files when the cluster was built with
    /// [`ClusterBuilder::tls`]: give `root_cert` as `sslrootcert` (or `PGSSLROOTCERT`) for
    /// `sslmode=verify-full`; `client_cert`/`client_key` log in as the URL's role under
    /// [`crate::TcpTls::ClientCertificate`].
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// TCP URL of the `postgres` database, as the password role if one was configured, else
    /// as the superuser `postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// TCP URL of database `db` (same user as [`Cluster::url`]).
    pub fn url_for(&self, db: &str) -> String {
        match &self.password_role {
            Some(role) => url::tcp(&role.name, Some(&role.password), HOST, self.port, db),
            None => url::tcp(SUPERUSER, None, HOST, self.port, db),
        }
    }

    /// Unix-socket URL of the `postgres` database as the superuser (always `trust`).
    pub fn socket_url(&self) -> String {
        self.socket_url_for("postgres")
    }

    /// Unix-socket URL of database `db` as the superuser.
    pub fn socket_url_for(&self, db: &str) -> String {
        url::socket(
            SUPERUSER,
            &self.run_dir.display().to_string(),
            self.port,
            db,
        )
    }

    /// The TCP host, always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The TCP port (the socket file is `.s.PGSQL.<port>` in [`Cluster::socket_dir`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The unix socket's path.
    pub fn socket_path(&self) -> PathBuf {
        self.run_dir.join(format!(".s.PGSQL.{}", self.port))
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log (stdout and stderr of the postmaster, appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.run_dir.join("postgres.log")
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }

    /// The binaries this cluster runs.
    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// The server version, e.g. `15.18`.
    pub fn version(&self) -> &str {
        self.binaries.version()
    }

    /// The user in [`Cluster::url`].
    pub fn user(&self) -> &str {
        self.password_role
            .as_ref()
            .map_or(SUPERUSER, |r| r.name.as_str())
    }

    /// The password in [`Cluster::url`], if a password role was configured.
    pub fn password(&self) -> Option<&str> {
        self.password_role.as_ref().map(|r| r.password.as_str())
    }

    /// The bootstrap superuser, `postgres`, usable without a password over the unix socket.
    pub fn superuser(&self) -> &'static str {
        SUPERUSER
    }

    /// The operating-system user the server runs as.
    pub fn os_user(&self) -> &str {
        self.run_as.name()
    }

    // ---- lifecycle -------------------------------------------------------------------------

    /// The postmaster's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        let mut state = self.lock();
        live(&mut state).map(|p| p.pid())
    }

    /// True while the postmaster runs.
    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// Starts the server again (same data, same port) after [`Cluster::stop`] or
    /// [`Cluster::kill`]; after a kill PostgreSQL runs crash recovery first.
    pub fn start(&self) -> Result<()> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::InvalidConfig("the cluster was closed".to_owned()));
        }
        if let Some(pm) = live(&mut state) {
            return Err(Error::AlreadyRunning { pid: pm.pid() });
        }
        let log = self.log_path();
        let mut postmaster = Postmaster::spawn(
            &self.binaries.postgres(),
            &self.run_as,
            &self.data_dir,
            &self.server_args,
            &log,
        )?;
        if let Err(e) = postmaster.wait_ready(&self.data_dir, &log, self.start_timeout) {
            let _ = postmaster.shutdown(Shutdown::Immediate, self.stop_timeout);
            return Err(e);
        }
        tracing::debug!(
            port = self.port,
            pid = postmaster.pid(),
            "postgres cluster started"
        );
        state.postmaster = Some(postmaster);
        Ok(())
    }

    /// Stops the server with a fast shutdown; a no-op when it is not running.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(Shutdown::Fast)
    }

    /// Stops the server with the given shutdown mode; a no-op when it is not running.
    pub fn stop_with(&self, mode: Shutdown) -> Result<()> {
        let mut state = self.lock();
        if let Some(postmaster) = state.postmaster.take() {
            let pid = postmaster.pid();
            let status = postmaster.shutdown(mode, self.stop_timeout)?;
            tracing::debug!(port = self.port, pid, ?mode, %status, "postgres cluster stopped");
        }
        Ok(())
    }

    /// Fast shutdown, then start.
    pub fn restart(&self) -> Result<()> {
        self.stop()?;
        self.start()
    }

    /// SIGKILLs the postmaster, as a crash would, and waits until its backends have exited.
    pub fn kill(&self) -> Result<()> {
        let mut state = self.lock();
        let postmaster = match live(&mut state) {
            Some(_) => state.postmaster.take(),
            None => None,
        };
        let Some(postmaster) = postmaster else {
            return Err(Error::NotRunning);
        };
        let pid = postmaster.pid();
        postmaster.kill(Duration::from_secs(10))?;
        tracing::debug!(port = self.port, pid, "postgres cluster killed");
        Ok(())
    }

    /// Whether [`Cluster::close`] (and drop) keep the temporary directory.
    pub fn set_keep(&self, keep: bool) {
        self.lock().keep = keep;
    }

    /// Stops the server and removes the run directory (with the data, unless it is kept or
    /// was given with [`ClusterBuilder::data_dir`]). Idempotent; `Drop` calls it.
    pub fn close(&self) -> Result<()> {
        let mut state = self.lock();
        if state.closed {
            return Ok(());
        }
        state.closed = true;
        let keep = state.keep;
        let mut result = Ok(());
        if let Some(postmaster) = state.postmaster.take() {
            // Data about to be deleted needs no checkpoint.
            let mode = if self.temporary_data && !keep {
                Shutdown::Immediate
            } else {
                Shutdown::Fast
            };
            result = postmaster.shutdown(mode, self.stop_timeout).map(|_| ());
        }
        if keep {
            let _ = std::fs::write(self.run_dir.join(run_dir::KEEP_MARKER), b"");
        } else if let Err(e) = std::fs::remove_dir_all(&self.run_dir)
            && result.is_ok()
            && e.kind() != std::io::ErrorKind::NotFound
        {
            result = Err(Error::io(format!("remove {}", self.run_dir.display()), e));
        }
        result
    }

    // ---- SQL ---------------------------------------------------------------------------------

    /// Runs `sql` as the superuser on database `postgres` over the unix socket; returns the rows
    /// (as text) of every statement. Blocking; fine to call from async tests.
    pub fn admin_query(&self, sql: &str) -> Result<Vec<Row>> {
        self.admin_query_in("postgres", sql)
    }

    /// Like [`Cluster::admin_query`], on database `db`.
    pub fn admin_query_in(&self, db: &str, sql: &str) -> Result<Vec<Row>> {
        if !self.is_running() {
            return Err(Error::NotRunning);
        }
        admin_sql::query(&self.socket_path(), SUPERUSER, db, sql, ADMIN_TIMEOUT)
    }

    /// `CREATE DATABASE name`.
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.admin_query(&format!("CREATE DATABASE {}", quote_ident(name)))
            .map(|_| ())
    }

    /// `DROP DATABASE IF EXISTS name WITH (FORCE)` (disconnects its sessions).
    pub fn drop_database(&self, name: &str) -> Result<()> {
        self.admin_query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .map(|_| ())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::warn!(port = self.port, error = %e, "closing the cluster failed");
        }
    }
}

/// The postmaster if it is still running; forgets one that exited on its own.
fn live(state: &mut State) -> Option<&mut Postmaster> {
    if let Some(pm) = state.postmaster.as_mut()
        && let Some(status) = pm.exited()
    {
        tracing::warn!(pid = pm.pid(), %status, "postmaster exited on its own");
        state.postmaster = None;
    }
    state.postmaster.as_mut()
}

/// A currently free TCP port on 127.0.0.1 (may be taken again before the server binds it; the
/// caller retries).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((HOST, 0))
        .map_err(|e| Error::io("find a free TCP port on 127.0.0.1", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("read the free port", e))
}

/// Prepares a user-chosen data directory: reuse an existing cluster, or initialise an absent or
/// empty directory. Anything else is refused rather than overwritten.
fn prepare_kept_data_dir(binaries: &PgBinaries, run_as: &RunAs, dir: &Path) -> Result<()> {
    run_as.check_reachable(dir)?;
    if dir.join("PG_VERSION").is_file() {
        return Ok(());
    }
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io(format!("read {}", dir.display()), e))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::InvalidConfig(format!(
                "{} exists but is neither empty nor a PostgreSQL data directory (no PG_VERSION); \
                 choose an empty or new directory",
                dir.display()
            )));
        }
    } else {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    }
    run_as.own(dir)?;
    initdb::create_data_dir(binaries, run_as, dir, false)
}

/// Removes a half-made run directory when creation fails.
struct RemoveOnError(Option<PathBuf>);

impl RemoveOnError {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
