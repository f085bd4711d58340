//! `ReplConfig`: a parsed [`Database`] (addresses, user, password, dbname, options,
//! application_name, connect timeout — one connector, one parser, the `PG*` environment) plus
//! what only the replication client needs. Every connection asks for
//! `replication=database`; TLS is started as the connection string's `sslmode` says (see
//! `pgkeel_net::tls`).

use pgkeel_net::{Address, Database};
use tokio_postgres::config::ChannelBinding;

use crate::repl::error::ReplError;

/// Settings of a replication connection.
///
/// ```
/// use pgkeel_net::Database;
/// use pgkeel_stream::ReplConfig;
///
/// let db = Database::parse_with_env("postgres://app@127.0.0.1:5432/app", &|_| None).unwrap();
/// let config = ReplConfig::new(&db).unwrap().with_max_message_len(64 << 20);
/// assert_eq!(config.addresses()[0].to_string(), "127.0.0.1:5432");
/// ```
#[derive(Debug, Clone)]
pub struct ReplConfig {
    database: Database,
    addresses: Vec<Address>,
    max_message_len: u32,
}

impl ReplConfig {
    /// The replication settings of `database`. Refuses `channel_binding=require` (SCRAM
    /// channel binding is not offered; SCRAM-SHA-256 runs inside TLS).
    pub fn new(database: &Database) -> Result<Self, ReplError> {
        let pg = database.pg_config();
        if pg.get_channel_binding() == ChannelBinding::Require {
            return Err(ReplError::config(
                "channel_binding=require is not supported: pgkeel does not offer \
                 SCRAM-SHA-256-PLUS; use channel_binding=prefer (TLS still protects the session)",
            ));
        }
        let addresses = database
            .addresses()
            .map_err(|e| ReplError::config(e.to_string()))?;
        Ok(ReplConfig {
            database: database.clone(),
            addresses,
            max_message_len: pgkeel_wire::DEFAULT_MAX_MESSAGE_LEN,
        })
    }

    /// Refuses server messages longer than `max` bytes (default
    /// [`pgkeel_wire::DEFAULT_MAX_MESSAGE_LEN`], PostgreSQL's own limit of 1 GiB - 1: one
    /// pgoutput message for a wide row can be many MB).
    pub fn with_max_message_len(mut self, max: u32) -> Self {
        self.max_message_len = max;
        self
    }

    /// Where, as whom and how long to try: user, password, dbname, `options`,
    /// `application_name` (shown in `pg_stat_replication`) and the connect timeout (per
    /// address, authentication included; it also bounds the graceful end of a stream).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The addresses tried in order.
    pub fn addresses(&self) -> &[Address] {
        &self.addresses
    }

    /// The largest server message accepted.
    pub fn max_message_len(&self) -> u32 {
        self.max_message_len
    }
}

impl TryFrom<&Database> for ReplConfig {
    type Error = ReplError;

    fn try_from(database: &Database) -> Result<Self, Self::Error> {
        ReplConfig::new(database)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReplConfig, ReplError> {
        let db = Database::parse_with_env(text, &|_| None)
            .map_err(|e| ReplError::config(e.to_string()))?;
        ReplConfig::new(&db)
    }

    #[test]
    fn takes_addresses_and_login_from_the_database() {
        let c = parse("host=/run/pg,127.0.0.1 port=5433 user=u application_name=x").unwrap();
        assert_eq!(
            c.addresses(),
            [
                Address::Unix("/run/pg/.s.PGSQL.5433".into()),
                Address::tcp("127.0.0.1", 5433)
            ]
        );
        assert_eq!(c.database().user(), "u");
        assert_eq!(c.database().application_name(), "x");
        assert_eq!(c.max_message_len(), pgkeel_wire::DEFAULT_MAX_MESSAGE_LEN);
        assert_eq!(c.with_max_message_len(1024).max_message_len(), 1024);
        let c = parse("postgres://app:p%40ss@db.example:6432/shop").unwrap();
        assert!(!format!("{c:?}").contains("p@ss"));
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let err = parse("postgres://u@h/db?channel_binding=require").unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(err.to_string().contains("SCRAM-SHA-256-PLUS"), "{err}");
        for fine in [
            "postgres://u@h/db?sslmode=prefer",
            "postgres://u@h/db?sslmode=disable",
            "postgres://u@h/db?sslmode=require",
        ] {
            assert!(parse(fine).is_ok(), "{fine}");
        }
    }
}
