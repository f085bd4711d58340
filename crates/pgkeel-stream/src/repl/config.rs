//! `ReplConfig`: where and how a replication connection connects, built from a libpq URL or
//! `key=value` DSN (parsed by `tokio_postgres::Config`). Every connection asks for
//! `replication=database`; TLS is not supported (use `sslmode=disable`/`prefer` or a socket).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{ChannelBinding, Host, SslMode};

use crate::repl::error::ReplError;

/// The connect timeout when the connection string sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest server message accepted by default (PostgreSQL's own limit, 1 GiB - 1): one
/// pgoutput message for a wide row can be many MB.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = pgkeel_wire::DEFAULT_MAX_MESSAGE_LEN;
/// The `application_name` when the connection string sets none.
pub const DEFAULT_APPLICATION_NAME: &str = "pgkeel";

const DEFAULT_PORT: u16 = 5432;

/// One address to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host name or IP address and a TCP port.
    Tcp {
        /// Host name or address.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// The directory holding the server's unix socket `.s.PGSQL.<port>`.
    Unix {
        /// Socket directory.
        dir: PathBuf,
        /// The port naming the socket file.
        port: u16,
    },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "{host}:{port}"),
            Target::Unix { dir, port } => write!(f, "{}/.s.PGSQL.{port}", dir.display()),
        }
    }
}

/// Settings of a replication connection.
#[derive(Clone)]
pub struct ReplConfig {
    targets: Vec<Target>,
    user: String,
    password: Option<Vec<u8>>,
    dbname: Option<String>,
    application_name: String,
    options: Option<String>,
    connect_timeout: Duration,
    max_message_len: u32,
}

impl fmt::Debug for ReplConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplConfig")
            .field("targets", &self.targets)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_len", &self.max_message_len)
            .finish()
    }
}

impl FromStr for ReplConfig {
    type Err = ReplError;

    /// Parses a libpq URL (`postgres://user:pw@host:port/db?connect_timeout=5`) or DSN
    /// (`host=/run/postgresql port=5432 user=app dbname=app`). Omit `replication=`: it is
    /// always `database`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let config = tokio_postgres::Config::from_str(text)
            .map_err(|e| ReplError::config(format!("cannot parse the connection string: {e}")))?;
        Self::from_pg_config(&config)
    }
}

impl ReplConfig {
    /// Builds the settings from a parsed `tokio_postgres::Config`: hosts (TCP names, `hostaddr`
    /// addresses, or unix socket directories), ports, user (default `$USER`), password,
    /// dbname, `options`, `application_name` and `connect_timeout` (default 10 s).
    pub fn from_pg_config(config: &tokio_postgres::Config) -> Result<Self, ReplError> {
        if config.get_ssl_mode() == SslMode::Require {
            return Err(ReplError::config(
                "sslmode=require is not supported: the replication client does not speak TLS; \
                 use sslmode=disable or prefer, or connect over the unix socket",
            ));
        }
        if config.get_channel_binding() == ChannelBinding::Require {
            return Err(ReplError::config(
                "channel_binding=require needs TLS, which the replication client does not speak",
            ));
        }
        let user = match config.get_user() {
            Some(user) => user.to_owned(),
            None => std::env::var("USER").map_err(|_| {
                ReplError::config("no user given; add user=NAME (or postgres://NAME@...)")
            })?,
        };
        Ok(ReplConfig {
            targets: targets(config)?,
            user,
            password: config.get_password().map(<[u8]>::to_vec),
            dbname: config.get_dbname().map(str::to_owned),
            application_name: config
                .get_application_name()
                .unwrap_or(DEFAULT_APPLICATION_NAME)
                .to_owned(),
            options: config.get_options().map(str::to_owned),
            connect_timeout: config
                .get_connect_timeout()
                .copied()
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
        })
    }

    /// Sets `application_name` (shown in `pg_stat_replication`).
    pub fn with_application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = name.into();
        self
    }

    /// Bounds connecting (per address, authentication included) and the graceful end of a
    /// stream.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Refuses server messages longer than `max` bytes (default 1 GiB - 1).
    pub fn with_max_message_len(mut self, max: u32) -> Self {
        self.max_message_len = max;
        self
    }

    /// The addresses tried in order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The role to log in as.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The password, if one was given.
    pub fn password(&self) -> Option<&[u8]> {
        self.password.as_deref()
    }

    /// The database (the server defaults to the user name).
    pub fn dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// The `application_name` sent at startup.
    pub fn application_name(&self) -> &str {
        &self.application_name
    }

    /// The `options` startup parameter (e.g. `-c wal_sender_timeout=30s`), if any.
    pub fn options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// How long connecting to one address may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The largest server message accepted.
    pub fn max_message_len(&self) -> u32 {
        self.max_message_len
    }
}

fn targets(config: &tokio_postgres::Config) -> Result<Vec<Target>, ReplError> {
    let hosts = config.get_hosts();
    let addrs = config.get_hostaddrs();
    let count = hosts.len().max(addrs.len());
    if count == 0 {
        return Err(ReplError::config(
            "no host given; add host=NAME (a host name or a unix socket directory) or \
             postgres://NAME/...",
        ));
    }
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(ReplError::config(format!(
            "{} hosts but {} hostaddrs; give one hostaddr per host",
            hosts.len(),
            addrs.len()
        )));
    }
    let ports = config.get_ports();
    if ports.len() > 1 && ports.len() != count {
        return Err(ReplError::config(format!(
            "{count} hosts but {} ports; give one port, or one per host",
            ports.len()
        )));
    }
    (0..count)
        .map(|i| {
            let port = ports
                .get(i)
                .or(ports.first())
                .copied()
                .unwrap_or(DEFAULT_PORT);
            if let Some(addr) = addrs.get(i) {
                return Ok(Target::Tcp {
                    host: addr.to_string(),
                    port,
                });
            }
            match hosts.get(i) {
                Some(Host::Tcp(host)) => Ok(Target::Tcp {
                    host: host.clone(),
                    port,
                }),
                Some(Host::Unix(dir)) => Ok(Target::Unix {
                    dir: dir.clone(),
                    port,
                }),
                None => Err(ReplError::config("a host is missing")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_dsns() {
        let c: ReplConfig = "postgres://app:p%40ss@db.example:6432/shop?connect_timeout=3"
            .parse()
            .unwrap();
        assert_eq!(
            c.targets(),
            [Target::Tcp {
                host: "db.example".into(),
                port: 6432
            }]
        );
        assert_eq!((c.user(), c.password()), ("app", Some(&b"p@ss"[..])));
        assert_eq!(c.dbname(), Some("shop"));
        assert_eq!(c.connect_timeout(), Duration::from_secs(3));
        assert_eq!(c.application_name(), DEFAULT_APPLICATION_NAME);
        assert!(!format!("{c:?}").contains("p@ss"));

        let c: ReplConfig = "host=/run/pg,127.0.0.1 port=5433 user=u application_name=x"
            .parse()
            .unwrap();
        assert_eq!(
            c.targets(),
            [
                Target::Unix {
                    dir: "/run/pg".into(),
                    port: 5433
                },
                Target::Tcp {
                    host: "127.0.0.1".into(),
                    port: 5433
                }
            ]
        );
        assert_eq!(c.targets()[0].to_string(), "/run/pg/.s.PGSQL.5433");
        assert_eq!(c.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.application_name(), "x");
        assert_eq!(c.password(), None);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        for bad in [
            "postgres://u@h/db?sslmode=require",
            "user=u dbname=d",
            "host=a,b port=1,2,3 user=u",
            "not a dsn",
        ] {
            let err = bad.parse::<ReplConfig>().unwrap_err();
            assert!(err.is_fatal(), "{bad}: {err}");
        }
    }
}
