//! Pool settings: the database (libpq URL or `key=value` DSN plus the `PG*` environment,
//! parsed by pgkeel-net's connector), sizes, timeouts, keepalive, backoff, minimum server
//! version and error classes.

use std::time::Duration;

use pgkeel_net::Database;

use crate::backoff::Backoff;
use crate::class::Classifier;
use crate::error::Error;

/// The connect timeout when the connection string and the environment set none.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to connect and how to behave when the connection fails.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The database (parsed from a URL or DSN and the `PG*` environment). Its own connect
    /// timeout is not used: [`PoolConfig::connect_timeout`] is.
    pub database: Database,
    /// A name for logs and metrics.
    pub name: String,
    /// Most connections open at once.
    pub max_size: usize,
    /// How long `run` waits for a free connection before failing with a pool timeout.
    pub acquire_timeout: Duration,
    /// How long establishing one connection may take (authentication included).
    pub connect_timeout: Duration,
    /// A silent (stalled, blackholed) link is noticed within this time.
    pub keepalive: Duration,
    /// Retry delays while recovering.
    pub backoff: Backoff,
    /// While the server refuses connections, check this often whether it listens again, so
    /// recovery starts as soon as it does; while a pooler or proxy in front of it says the
    /// server is down, retry the connection this often (`None` waits for the backoff only).
    pub fast_probe: Option<Duration>,
    /// Longest a reconnect hook may run before the attempt counts as failed.
    pub hook_timeout: Duration,
    /// Oldest server accepted (`server_version_num`, e.g. 130000); older is fatal.
    pub min_server_version: u32,
    /// Which errors are transient, fatal, ...
    pub classifier: Classifier,
}

impl PoolConfig {
    /// Settings for `url` (libpq URL `postgres://user:pass@host:port/db` or `key=value` DSN;
    /// what it leaves out comes from `PGHOST`, `PGUSER`, ... as with libpq), with the
    /// defaults: 8 connections, 5 s acquire timeout, 5 s connect timeout (unless the URL's
    /// `connect_timeout` or `PGCONNECT_TIMEOUT` sets one), 5 s keepalive, 50 ms–2 s backoff,
    /// 50 ms fast probe, PostgreSQL 13 or newer.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let database = Database::parse(url).map_err(|e| Error::config(e.to_string()))?;
        Ok(Self::new(database))
    }

    /// Settings for `database`, with the defaults of [`PoolConfig::from_url`].
    pub fn new(database: Database) -> Self {
        PoolConfig {
            connect_timeout: database
                .connect_timeout_chosen()
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            database,
            name: "default".to_owned(),
            max_size: 8,
            acquire_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(5),
            backoff: Backoff::default(),
            fast_probe: Some(Duration::from_millis(50)),
            hook_timeout: Duration::from_secs(30),
            min_server_version: 130_000,
            classifier: Classifier::new(),
        }
    }

    /// The database with [`PoolConfig::connect_timeout`] applied: what the pool, its
    /// supervisor, a listener on these settings and pgkeel-work's session heartbeat connect
    /// with.
    pub fn connector(&self) -> Database {
        self.database
            .clone()
            .with_connect_timeout(self.connect_timeout)
    }

    /// Checks the settings make sense.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_size == 0 {
            return Err(Error::config("max_size must be at least 1"));
        }
        for (name, value) in [
            ("acquire_timeout", self.acquire_timeout),
            ("connect_timeout", self.connect_timeout),
            ("keepalive", self.keepalive),
            ("backoff base", self.backoff.base),
        ] {
            if value.is_zero() {
                return Err(Error::config(format!("{name} must be above zero")));
            }
        }
        if self.backoff.cap < self.backoff.base {
            return Err(Error::config("the backoff cap must not be below its base"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_urls_connect_timeout_is_the_fields_first_value() {
        let no_env = |_: &str| None;
        let given = Database::parse_with_env("postgres://u@h/d?connect_timeout=3", &no_env)
            .map(PoolConfig::new)
            .unwrap();
        assert_eq!(given.connect_timeout, Duration::from_secs(3));
        let default = Database::parse_with_env("postgres://u@h/d", &no_env)
            .map(PoolConfig::new)
            .unwrap();
        assert_eq!(default.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        // The field is the knob: the connector applies it, whatever the URL said.
        let mut tuned = given;
        tuned.connect_timeout = Duration::from_millis(700);
        assert_eq!(
            tuned.connector().connect_timeout(),
            Duration::from_millis(700)
        );
        assert_eq!(tuned.connector().describe(), "u@h:5432/d");
    }

    #[test]
    fn a_url_that_does_not_parse_is_a_config_error() {
        let err = PoolConfig::from_url("postgres://u@h:notaport/d").unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(err.to_string().contains("does not parse"), "{err}");
    }
}
