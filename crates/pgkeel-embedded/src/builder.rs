//! `ClusterBuilder`: every option of a cluster, with defaults suited to the rest of pgkeel
//! (logical replication on, prepared transactions allowed, trust auth).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::PgBinaries;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::tls::TcpTls;

/// A login role that must authenticate with SCRAM-SHA-256 over TCP.
#[derive(Debug, Clone)]
pub struct PasswordRole {
    /// Role name.
    pub name: String,
    /// Its password.
    pub password: String,
}

/// Server settings every cluster gets unless overridden with [`ClusterBuilder::setting`].
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("wal_level", "logical"),
    ("max_replication_slots", "16"),
    ("max_wal_senders", "16"),
    ("max_prepared_transactions", "16"),
    ("listen_addresses", "127.0.0.1"),
];

/// Configures and starts a [`Cluster`]. Obtain one with [`Cluster::builder`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    pub(crate) binaries: Option<PgBinaries>,
    pub(crate) port: Option<u16>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) settings: BTreeMap<String, String>,
    pub(crate) password_role: Option<PasswordRole>,
    pub(crate) auth_method: Option<String>,
    pub(crate) run_as_user: Option<String>,
    pub(crate) tls: Option<TcpTls>,
    pub(crate) keep: bool,
    pub(crate) initdb_cache: bool,
    pub(crate) start_timeout: Duration,
    pub(crate) stop_timeout: Duration,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        ClusterBuilder {
            binaries: None,
            port: None,
            data_dir: None,
            settings: DEFAULT_SETTINGS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            password_role: None,
            auth_method: None,
            run_as_user: None,
            tls: None,
            keep: false,
            initdb_cache: true,
            start_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(30),
        }
    }
}

impl ClusterBuilder {
    /// Use these binaries instead of searching (see [`PgBinaries::find`]).
    pub fn binaries(mut self, binaries: PgBinaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// Listen on this TCP port of 127.0.0.1 (default: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Keep the data in `dir`: created and initialised when missing or empty, reused when it
    /// already holds a cluster, never deleted.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Sets a server setting (`postgres -c name=value`); overrides the defaults.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    /// Turns off `fsync` and `full_page_writes`: faster for tests. A committed transaction
    /// still survives a server crash ([`Cluster::kill`]), because `synchronous_commit` stays on
    /// and the WAL reaches the operating system at commit; it does not survive an OS crash.
    pub fn fsync_off(self) -> Self {
        self.setting("fsync", "off")
            .setting("full_page_writes", "off")
    }

    /// Creates a superuser login role with this password and requires SCRAM-SHA-256 (or the
    /// [`ClusterBuilder::auth_method`]) for every TCP connection; [`Cluster::url`] then uses
    /// this role. The unix socket stays `trust`.
    pub fn password_role(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.password_role = Some(PasswordRole {
            name: name.into(),
            password: password.into(),
        });
        self
    }

    /// The `pg_hba.conf` method for TCP connections of the password role: `scram-sha-256`
    /// (the default), `md5` (also sets `password_encryption=md5`, so the password is stored
    /// as MD5 and the server really asks for MD5) or `password` (cleartext). Needs
    /// [`ClusterBuilder::password_role`].
    pub fn auth_method(mut self, method: impl Into<String>) -> Self {
        self.auth_method = Some(method.into());
        self
    }

    /// The TCP method of `pg_hba.conf`: `trust` without a password role.
    pub(crate) fn tcp_auth_method(&self) -> &str {
        match (&self.password_role, &self.auth_method) {
            (None, _) => "trust",
            (Some(_), Some(method)) => method,
            (Some(_), None) => "scram-sha-256",
        }
    }

    /// When running as root, run PostgreSQL as this user (default: `$PGKEEL_PG_USER`, else
    /// `postgres`).
    pub fn run_as_user(mut self, user: impl Into<String>) -> Self {
        self.run_as_user = Some(user.into());
        self
    }

    /// Keep the temporary directory (data and log) when the cluster is dropped.
    pub fn keep(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Copy a cached `initdb` result instead of running `initdb` each time (default: on; also
    /// disabled by `PGKEEL_EMBEDDED_NO_CACHE=1`). Never used for [`ClusterBuilder::data_dir`].
    pub fn initdb_cache(mut self, enabled: bool) -> Self {
        self.initdb_cache = enabled;
        self
    }

    /// How long to wait for the server to accept connections (default 60 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// How long each shutdown step may take before escalating (default 30 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Turns TLS on (`ssl = on`) with a CA and certificates generated for this cluster (see
    /// [`crate::Cluster::tls_files`]); `tcp` says whether TCP clients must use it and how they
    /// log in.
    pub fn tls(mut self, tcp: TcpTls) -> Self {
        self.tls = Some(tcp);
        self
    }

    /// Creates the cluster and starts it; returns once it accepts connections.
    pub fn start(self) -> Result<Cluster> {
        self.validate()?;
        Cluster::create(self)
    }

    fn validate(&self) -> Result<()> {
        for (name, value) in &self.settings {
            let valid_name = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !valid_name {
                return Err(Error::InvalidConfig(format!(
                    "`{name}` is not a valid setting name (letters, digits, `_` and `.`)"
                )));
            }
            if value.contains('\0') {
                return Err(Error::InvalidConfig(format!(
                    "the value of `{name}` contains a NUL byte"
                )));
            }
            let managed_tls = self.tls.is_some()
                && matches!(
                    name.as_str(),
                    "ssl" | "ssl_cert_file" | "ssl_key_file" | "ssl_ca_file"
                );
            if managed_tls
                || matches!(
                    name.as_str(),
                    "port" | "unix_socket_directories" | "hba_file" | "data_directory"
                )
            {
                return Err(Error::InvalidConfig(format!(
                    "`{name}` is managed by pgkeel-embedded; use the builder's options instead"
                )));
            }
        }
        if let Some(role) = &self.password_role {
            if role.name.is_empty() || role.name.contains('\0') {
                return Err(Error::InvalidConfig(
                    "the password role needs a non-empty name without NUL bytes".to_owned(),
                ));
            }
            if role.password.is_empty() || role.password.contains('\0') {
                return Err(Error::InvalidConfig(
                    "the password role needs a non-empty password without NUL bytes".to_owned(),
                ));
            }
        }
        if let Some(method) = &self.auth_method {
            if !matches!(method.as_str(), "scram-sha-256" | "md5" | "password") {
                return Err(Error::InvalidConfig(format!(
                    "auth method `{method}` is not one of scram-sha-256, md5, password"
                )));
            }
            if self.password_role.is_none() {
                return Err(Error::InvalidConfig(
                    "an auth method needs a password role (ClusterBuilder::password_role)"
                        .to_owned(),
                ));
            }
        }
        if self.port == Some(0) {
            return Err(Error::InvalidConfig(
                "port 0 is not a port; leave the port unset to get a free one".to_owned(),
            ));
        }
        Ok(())
    }
}
