//! The connector: a [`Database`] is a connection string (libpq URL or `key=value` DSN) with the
//! `PG*` environment filled in, and the one place pgkeel opens `tokio_postgres` connections,
//! with the connect timeout, TCP keepalives, `application_name` and TLS (libpq's `sslmode` and
//! certificate settings, see [`crate::tls`]) applied the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres::{Client, Config};

use crate::address::{Address, DEFAULT_PORT};
use crate::connector::{ConnectError, PgConnection};
use crate::env;
use crate::error::Error;
use crate::socket::Socket;
use crate::tls::{self, ClientTls, RustlsConnect, Settings, SslMode};

/// The connect timeout when neither the connection string nor `PGCONNECT_TIMEOUT` sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `application_name` when neither the connection string nor `PGAPPNAME` sets one.
pub const DEFAULT_APPLICATION_NAME: &str = "pgkeel";
/// TCP keepalive idle time unless the connection string sets `keepalives_idle`: a peer that
/// vanished is noticed by the kernel within about a minute and a half, not two hours.
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(60);
const DEFAULT_KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVES_RETRIES: u32 = 3;
/// tokio-postgres's own default idle time, i.e. "not set in the string".
const TOKIO_POSTGRES_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Where and as whom to connect, parsed once.
#[derive(Clone)]
pub struct Database {
    pg: Config,
    connect_timeout: Duration,
    connect_timeout_given: bool,
    application_name_given: bool,
    tls: ClientTls,
    /// Every address is a unix socket: TLS is never negotiated (the server offers none there).
    only_unix: bool,
}

impl Database {
    /// Parses a libpq URL (`postgres://user:pw@host:port/db?connect_timeout=5`) or DSN
    /// (`host=/run/postgresql port=5432 user=app dbname=app`); what it leaves out comes from
    /// the `PG*` environment. An empty string takes everything from the environment.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_with_env(text, &|name| std::env::var(name).ok())
    }

    /// [`Database::parse`] with the environment given as a function (for tests, or to ignore
    /// the process environment: `&|_| None`).
    pub fn parse_with_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let split = tls::params::split(text)?;
        let mut pg = if split.rest.trim().is_empty() {
            Config::new()
        } else {
            Config::from_str(&split.rest).map_err(|e| {
                Error::config(format!(
                    "the database URL does not parse ({e}); expected \
                     postgres://user:password@host:port/dbname or \
                     'host=... port=... user=... dbname=...'"
                ))
            })?
        };
        let env_timeout = env::apply(&mut pg, env)?;
        let tls = ClientTls::new(Settings::resolve(&split.tls, env)?)?;
        Self::from_config_with_timeout(pg, env_timeout, tls)
    }

    /// Takes a `tokio_postgres::Config` as it is (no environment; its `sslmode`, without
    /// certificate checks).
    pub fn from_config(pg: Config) -> Result<Self, Error> {
        let mode = match pg.get_ssl_mode() {
            PgSslMode::Disable => "disable",
            PgSslMode::Require => "require",
            _ => "prefer",
        };
        let pairs = [("sslmode".to_owned(), mode.to_owned())];
        let tls = ClientTls::new(Settings::resolve(&pairs, &|_| None)?)?;
        Self::from_config_with_timeout(pg, None, tls)
    }

    fn from_config_with_timeout(
        mut pg: Config,
        fallback: Option<Duration>,
        tls: ClientTls,
    ) -> Result<Self, Error> {
        let chosen = pg
            .get_connect_timeout()
            .copied()
            .filter(|t| !t.is_zero())
            .or(fallback);
        let connect_timeout = chosen.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        pg.connect_timeout(connect_timeout);
        let application_name_given = pg.get_application_name().is_some();
        if !application_name_given {
            pg.application_name(DEFAULT_APPLICATION_NAME);
        }
        if pg.get_keepalives_idle() == TOKIO_POSTGRES_KEEPALIVES_IDLE {
            pg.keepalives_idle(DEFAULT_KEEPALIVES_IDLE)
                .keepalives_interval(DEFAULT_KEEPALIVES_INTERVAL)
                .keepalives_retries(DEFAULT_KEEPALIVES_RETRIES);
        }
        pg.ssl_mode(match tls.mode() {
            SslMode::Disable | SslMode::Allow => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let only_unix = addresses(&pg)?
            .iter()
            .all(|a| matches!(a, Address::Unix(_)));
        if only_unix {
            pg.ssl_mode(PgSslMode::Disable);
        }
        let db = Database {
            pg,
            connect_timeout,
            connect_timeout_given: chosen.is_some(),
            application_name_given,
            tls,
            only_unix,
        };
        if db.pg.get_user().is_none() {
            return Err(Error::config(
                "no user given; add user=NAME (or postgres://NAME@...), or set PGUSER",
            ));
        }
        Ok(db)
    }

    /// Opens a connection: within the connect timeout per address (authentication
    /// included), TCP keepalives on, TLS as `sslmode` says. Spawn (or poll) the connection
    /// half.
    pub async fn connect(&self) -> Result<(Client, PgConnection), ConnectError> {
        let first = self.connect_with(&self.pg).await;
        match first {
            // libpq's `allow`: plaintext first, TLS when the server refused the session.
            Err(e)
                if self.tls.mode() == SslMode::Allow
                    && !self.only_unix
                    && e.postgres_error().and_then(|p| p.as_db_error()).is_some() =>
            {
                let mut pg = self.pg.clone();
                pg.ssl_mode(PgSslMode::Require);
                self.connect_with(&pg).await
            }
            other => other,
        }
    }

    async fn connect_with(&self, pg: &Config) -> Result<(Client, PgConnection), ConnectError> {
        let addresses = pg.get_hosts().len().max(pg.get_hostaddrs().len());
        let bound = self.connect_timeout * u32::try_from(addresses.max(1)).unwrap_or(u32::MAX);
        match tokio::time::timeout(bound, pg.connect(RustlsConnect::new(&self.tls))).await {
            Err(_) => Err(ConnectError::timeout(self.describe(), bound)),
            Ok(Err(e)) => Err(ConnectError::postgres(self.describe(), e)),
            Ok(Ok(pair)) => Ok(pair),
        }
    }

    /// Opens a socket to `address` (one of [`Database::addresses`]) for a client that speaks
    /// the protocol itself (the replication client), with the same TCP keepalives as
    /// [`Database::connect`], TLS started as `sslmode` says (SSLRequest, handshake), all
    /// bounded by the connect timeout. A TLS failure that retrying cannot fix carries a
    /// [`crate::TlsFailure`] (see [`crate::tls_failure`]).
    pub async fn connect_socket(&self, address: &Address) -> std::io::Result<Socket> {
        let timed_out = |what: &str| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{what} within {:?}", self.connect_timeout),
            )
        };
        let socket = tokio::time::timeout(self.connect_timeout, self.connect_plain_socket(address))
            .await
            .map_err(|_| timed_out("no connection"))??;
        match address {
            Address::Tcp { host, .. } => tokio::time::timeout(
                self.connect_timeout,
                tls::negotiate(socket, &self.tls, host),
            )
            .await
            .map_err(|_| timed_out("no answer to the TLS negotiation (SSLRequest, handshake)"))?,
            Address::Unix(_) => Ok(socket),
        }
    }

    async fn connect_plain_socket(&self, address: &Address) -> std::io::Result<Socket> {
        let socket = Socket::connect(address).await?;
        if self.pg.get_keepalives() {
            socket.set_tcp_keepalive(
                self.pg.get_keepalives_idle(),
                self.pg
                    .get_keepalives_interval()
                    .unwrap_or(DEFAULT_KEEPALIVES_INTERVAL),
                self.pg
                    .get_keepalives_retries()
                    .unwrap_or(DEFAULT_KEEPALIVES_RETRIES),
            )?;
        }
        Ok(socket)
    }

    /// Sets `application_name` (shown in `pg_stat_activity`).
    pub fn with_application_name(mut self, name: &str) -> Self {
        self.pg.application_name(name);
        self.application_name_given = true;
        self
    }

    /// Sets `application_name` unless the connection string or `PGAPPNAME` chose one.
    pub fn with_default_application_name(self, name: &str) -> Self {
        if self.application_name_given {
            self
        } else {
            let mut db = self.with_application_name(name);
            db.application_name_given = false;
            db
        }
    }

    /// Bounds connecting to one address, authentication included.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self.connect_timeout_given = true;
        self.pg.connect_timeout(timeout);
        self
    }

    /// Sets the TCP keepalive idle time (probes then follow every 10 s, 3 at most).
    pub fn with_tcp_keepalive(mut self, idle: Duration) -> Self {
        self.pg.keepalives(true).keepalives_idle(idle);
        self
    }

    /// Appends to the `options` startup parameter (e.g. `-c timezone=UTC`), after any the
    /// connection string gave.
    pub fn with_options_appended(mut self, options: &str) -> Self {
        let joined = match self.pg.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {options}"),
            _ => options.to_owned(),
        };
        self.pg.options(&joined);
        self
    }

    /// The addresses tried in order: `hostaddr` addresses, TCP host names or unix socket
    /// files (a socket directory joined with `.s.PGSQL.<port>`).
    pub fn addresses(&self) -> Result<Vec<Address>, Error> {
        addresses(&self.pg)
    }

    /// The role to log in as.
    pub fn user(&self) -> &str {
        self.pg.get_user().unwrap_or_default()
    }

    /// The password, if one was given.
    pub fn password(&self) -> Option<&[u8]> {
        self.pg.get_password()
    }

    /// The database (the server defaults to the user name).
    pub fn dbname(&self) -> Option<&str> {
        self.pg.get_dbname()
    }

    /// The `application_name` sent at startup.
    pub fn application_name(&self) -> &str {
        self.pg
            .get_application_name()
            .unwrap_or(DEFAULT_APPLICATION_NAME)
    }

    /// The `options` startup parameter, if any.
    pub fn options(&self) -> Option<&str> {
        self.pg.get_options()
    }

    /// How long connecting to one address may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The connect timeout the connection string, `PGCONNECT_TIMEOUT` or
    /// [`Database::with_connect_timeout`] chose; `None` when [`Database::connect_timeout`] is
    /// the default (so a caller with a default of its own can apply it).
    pub fn connect_timeout_chosen(&self) -> Option<Duration> {
        self.connect_timeout_given.then_some(self.connect_timeout)
    }

    /// The TLS settings (`sslmode` and certificates).
    pub fn tls(&self) -> &ClientTls {
        &self.tls
    }

    /// The parsed settings, for what only tokio-postgres reads (e.g. `channel_binding`).
    pub fn pg_config(&self) -> &Config {
        &self.pg
    }

    /// `user@address,…/dbname` for messages and logs (never the password).
    pub fn describe(&self) -> String {
        let user = self.user();
        let db = self.dbname().unwrap_or(user);
        let addresses = match self.addresses() {
            Ok(list) => list.iter().map(Address::to_string).collect::<Vec<_>>(),
            Err(_) => vec!["?".to_owned()],
        };
        format!("{user}@{}/{db}", addresses.join(","))
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("target", &self.describe())
            .field("application_name", &self.application_name())
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .field("password", &self.password().map(|_| "<hidden>"))
            .finish()
    }
}

impl FromStr for Database {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Database::parse(text)
    }
}

fn addresses(pg: &Config) -> Result<Vec<Address>, Error> {
    let hosts = pg.get_hosts();
    let addrs = pg.get_hostaddrs();
    let count = hosts.len().max(addrs.len());
    if count == 0 {
        return Err(Error::config(
            "the database URL names no host; add host=NAME (a host name or a unix socket \
             directory) or postgres://user@HOST:PORT/..., or set PGHOST",
        ));
    }
    if !hosts.is_empty() && !addrs.is_empty() && hosts.len() != addrs.len() {
        return Err(Error::config(format!(
            "{} hosts but {} hostaddrs; give one hostaddr per host",
            hosts.len(),
            addrs.len()
        )));
    }
    let ports = pg.get_ports();
    if ports.len() > 1 && ports.len() != count {
        return Err(Error::config(format!(
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
                return Ok(Address::tcp(addr.to_string(), port));
            }
            match hosts.get(i) {
                Some(Host::Tcp(host)) => Ok(Address::tcp(host.clone(), port)),
                Some(Host::Unix(dir)) => Ok(Address::unix_socket(dir, port)),
                None => Err(Error::config("a host is missing")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn parses_urls_and_dsns() {
        let db = Database::parse_with_env(
            "postgres://app:p%40ss@db.example:6432/shop?connect_timeout=3",
            &no_env,
        )
        .unwrap();
        assert_eq!(db.addresses().unwrap(), [Address::tcp("db.example", 6432)]);
        assert_eq!((db.user(), db.password()), ("app", Some(&b"p@ss"[..])));
        assert_eq!(db.dbname(), Some("shop"));
        assert_eq!(db.connect_timeout(), Duration::from_secs(3));
        assert_eq!(db.connect_timeout_chosen(), Some(Duration::from_secs(3)));
        assert_eq!(db.application_name(), DEFAULT_APPLICATION_NAME);
        assert_eq!(db.describe(), "app@db.example:6432/shop");
        assert!(!format!("{db:?}").contains("p@ss"));

        let db = Database::parse_with_env(
            "host=/run/pg,127.0.0.1 port=5433 user=u application_name=x",
            &no_env,
        )
        .unwrap();
        assert_eq!(
            db.addresses().unwrap(),
            [
                Address::Unix("/run/pg/.s.PGSQL.5433".into()),
                Address::tcp("127.0.0.1", 5433)
            ]
        );
        assert_eq!(db.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(db.connect_timeout_chosen(), None);
        let db = db.with_connect_timeout(Duration::from_secs(2));
        assert_eq!(db.connect_timeout_chosen(), Some(Duration::from_secs(2)));
        assert_eq!(db.application_name(), "x");
        assert_eq!(db.password(), None);
        assert_eq!(db.describe(), "u@/run/pg/.s.PGSQL.5433,127.0.0.1:5433/u");
    }

    #[test]
    fn fills_gaps_from_the_environment() {
        let env = |name: &str| {
            let value = match name {
                "PGHOST" => "/sock,db2",
                "PGPORT" => "7000",
                "PGUSER" => "envuser",
                "PGPASSWORD" => "envpw",
                "PGDATABASE" => "envdb",
                "PGAPPNAME" => "envapp",
                "PGOPTIONS" => "-c work_mem=8MB",
                "PGCONNECT_TIMEOUT" => "4",
                _ => return None,
            };
            Some(value.to_owned())
        };
        let db = Database::parse_with_env("", &env).unwrap();
        assert_eq!(
            db.addresses().unwrap(),
            [
                Address::Unix("/sock/.s.PGSQL.7000".into()),
                Address::tcp("db2", 7000)
            ]
        );
        assert_eq!(db.user(), "envuser");
        assert_eq!(db.password(), Some(&b"envpw"[..]));
        assert_eq!(db.dbname(), Some("envdb"));
        assert_eq!(db.application_name(), "envapp");
        assert_eq!(db.options(), Some("-c work_mem=8MB"));
        assert_eq!(db.connect_timeout(), Duration::from_secs(4));
        assert_eq!(db.connect_timeout_chosen(), Some(Duration::from_secs(4)));

        // The string wins over the environment.
        let db = Database::parse_with_env("postgres://u@h:1/d?application_name=s", &env).unwrap();
        assert_eq!(db.addresses().unwrap(), [Address::tcp("h", 1)]);
        assert_eq!((db.user(), db.dbname()), ("u", Some("d")));
        assert_eq!(db.application_name(), "s");
        assert_eq!(db.password(), Some(&b"envpw"[..]));
    }

    #[test]
    fn application_name_defaults_only_when_not_chosen() {
        let db = Database::parse_with_env("postgres://u@h/d", &no_env).unwrap();
        let db = db.with_default_application_name("pgkeel serve");
        assert_eq!(db.application_name(), "pgkeel serve");
        let db = db.with_default_application_name("other");
        assert_eq!(db.application_name(), "other");
        let db = Database::parse_with_env("postgres://u@h/d?application_name=mine", &no_env)
            .unwrap()
            .with_default_application_name("pgkeel serve");
        assert_eq!(db.application_name(), "mine");
        let db = db.with_options_appended("-c a=b");
        assert_eq!(db.options(), Some("-c a=b"));
        assert_eq!(
            db.with_options_appended("-c c=d").options(),
            Some("-c a=b -c c=d")
        );
    }

    #[tokio::test]
    async fn bare_sockets_connect_with_the_same_settings() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let db = Database::parse_with_env(
            &format!("postgres://u@127.0.0.1:{port}/d?sslmode=disable"),
            &no_env,
        )
        .unwrap();
        let address = &db.addresses().unwrap()[0];
        let socket = db.connect_socket(address).await.unwrap();
        assert!(socket.is_tcp());
        let (accepted, _) = listener.accept().await.unwrap();
        drop(listener);
        drop(accepted);
        let err = db.connect_socket(address).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }

    #[test]
    fn refuses_what_cannot_work() {
        for bad in [
            "user=u dbname=d",
            "host=a,b port=1,2,3 user=u",
            "not a dsn",
            "host=h",
        ] {
            let err = Database::parse_with_env(bad, &no_env).unwrap_err();
            assert!(err.is_config(), "{bad}: {err}");
        }
        let env = |name: &str| (name == "PGPORT").then(|| "x".to_owned());
        let err = Database::parse_with_env("host=h user=u", &env).unwrap_err();
        assert!(err.to_string().contains("PGPORT"), "{err}");
    }
}
