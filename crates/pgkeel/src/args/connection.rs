//! How a recovering connection behaves (`serve`'s pool, `listen`'s listener): notice a silent
//! link, bound each attempt, back off between retries, and the `application_name` it shows.

use std::time::Duration;

use pgkeel_conn::{Backoff, PoolConfig};

use super::parse_duration;

/// Timings of a connection that reconnects by itself. The defaults are those of
/// `pgkeel_conn::PoolConfig` and `Backoff::default()`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnectionArgs {
    /// A silent (stalled) connection is noticed within this time.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) keepalive: Duration,

    /// How long one connection attempt may take.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) connect_timeout: Duration,

    /// First retry delay while reconnecting.
    #[arg(long, value_name = "DURATION", default_value = "50ms", value_parser = parse_duration)]
    pub(crate) backoff_base: Duration,

    /// Longest retry delay while reconnecting.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub(crate) backoff_cap: Duration,

    /// The application_name shown in pg_stat_activity [default: the connection string's or
    /// PGAPPNAME, else `pgkeel <command>`].
    #[arg(long, value_name = "NAME")]
    pub(crate) application_name: Option<String>,
}

impl ConnectionArgs {
    /// Applies the timings to `config`, and the application name: this flag's, else the
    /// connection string's, else `default_name`.
    pub(crate) fn apply(&self, config: &mut PoolConfig, default_name: &str) {
        config.keepalive = self.keepalive;
        config.connect_timeout = self.connect_timeout;
        config.backoff = Backoff {
            base: self.backoff_base,
            cap: self.backoff_cap,
            ..Backoff::default()
        };
        config.database = match &self.application_name {
            Some(name) => config.database.clone().with_application_name(name),
            None => config
                .database
                .clone()
                .with_default_application_name(default_name),
        };
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use pgkeel_net::Database;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        connection: ConnectionArgs,
    }

    fn applied(url: &str, args: &[&str]) -> PoolConfig {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{e}"));
        let database = Database::parse_with_env(url, &|_| None).unwrap_or_else(|e| panic!("{e}"));
        let mut config = PoolConfig::new(database);
        cli.connection.apply(&mut config, "pgkeel test");
        config
    }

    #[test]
    fn the_defaults_are_the_pools() {
        let config = applied("postgres://u@h/d", &[]);
        let defaults = PoolConfig::new(
            Database::parse_with_env("postgres://u@h/d", &|_| None)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(config.keepalive, defaults.keepalive);
        assert_eq!(config.connect_timeout, defaults.connect_timeout);
        assert_eq!(config.backoff, Backoff::default());
        assert_eq!(config.database.application_name(), "pgkeel test");
    }

    #[test]
    fn flags_win_and_the_urls_application_name_beats_the_default_only() {
        let config = applied(
            "postgres://u@h/d?application_name=from_url",
            &[
                "--keepalive",
                "1s",
                "--backoff-base",
                "10ms",
                "--backoff-cap",
                "200ms",
            ],
        );
        assert_eq!(config.keepalive, Duration::from_secs(1));
        assert_eq!(config.backoff.base, Duration::from_millis(10));
        assert_eq!(config.backoff.cap, Duration::from_millis(200));
        assert_eq!(config.database.application_name(), "from_url");
        let named = applied(
            "postgres://u@h/d?application_name=from_url",
            &["--application-name", "mine", "--connect-timeout", "2s"],
        );
        assert_eq!(named.database.application_name(), "mine");
        assert_eq!(named.connect_timeout, Duration::from_secs(2));
    }
}
