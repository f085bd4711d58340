//! Pool settings: the database (libpq URL or `key=value` DSN), sizes, timeouts, keepalive,
//! backoff, minimum server version and error classes.

use std::str::FromStr;
use std::time::Duration;

use crate::backoff::Backoff;
use crate::class::Classifier;
use crate::error::Error;

/// How to connect and how to behave when the connection fails.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The database (parsed from a URL or DSN).
    pub pg: tokio_postgres::Config,
    /// A name for logs and metrics.
    pub name: String,
    /// Most connections open at once.
    pub max_size: usize,
    /// How long `run` waits for a free connection before failing with a pool timeout.
    pub acquire_timeout: Duration,
    /// How long establishing one connection may take.
    pub connect_timeout: Duration,
    /// A silent (stalled, blackholed) link is noticed within this time.
    pub keepalive: Duration,
    /// Retry delays while recovering.
    pub backoff: Backoff,
    /// While the server refuses connections, check this often whether it listens again, so
    /// recovery starts as soon as it does (`None` waits for the backoff only).
    pub fast_probe: Option<Duration>,
    /// Longest a reconnect hook may run before the attempt counts as failed.
    pub hook_timeout: Duration,
    /// Oldest server accepted (`server_version_num`, e.g. 130000); older is fatal.
    pub min_server_version: u32,
    /// Which errors are transient, fatal, ...
    pub classifier: Classifier,
}

impl PoolConfig {
    /// Settings for `url` (libpq URL `postgres://user:pass@host:port/db` or `key=value` DSN),
    /// with the defaults: 8 connections, 5 s acquire and connect timeouts, 5 s keepalive,
    /// 50 ms–2 s backoff, 50 ms fast probe, PostgreSQL 13 or newer.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let mut pg = tokio_postgres::Config::from_str(url).map_err(|e| {
            Error::config(format!(
                "the database URL does not parse ({e}); expected postgres://user:password@host:port/dbname \
                 or 'host=... port=... user=... dbname=...'"
            ))
        })?;
        if pg.get_application_name().is_none() {
            pg.application_name("pgkeel");
        }
        Ok(PoolConfig {
            pg,
            name: "default".to_owned(),
            max_size: 8,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            keepalive: Duration::from_secs(5),
            backoff: Backoff::default(),
            fast_probe: Some(Duration::from_millis(50)),
            hook_timeout: Duration::from_secs(30),
            min_server_version: 130_000,
            classifier: Classifier::new(),
        })
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
        if self.pg.get_hosts().is_empty() {
            return Err(Error::config(
                "the database URL names no host (add host=... or @host:port)",
            ));
        }
        Ok(())
    }
}
