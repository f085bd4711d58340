//! Opening the listener's connection: connect within the connect timeout, and decide whether a
//! failure is worth retrying (and whether the server refused outright, for the fast probe) or
//! fatal (wrong password, missing database, ...).

use tokio_postgres::config::Host;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{Client, Config, NoTls, Socket};

use crate::class::ErrorClass;
use crate::config::PoolConfig;
use crate::error::{Error, Kind, describe};

/// The connection half that must be polled for notifications.
pub(super) type PgConnection = tokio_postgres::Connection<Socket, NoTlsStream>;

/// Why connecting failed, and what to do about it.
#[derive(Debug)]
pub(super) enum Failure {
    /// Try again after the backoff. `refused`: nothing listens at the address (the fast probe
    /// can tell when something does again). `starting`: the server listens but is starting up
    /// (57P03), so try again within milliseconds.
    Retry {
        cause: String,
        refused: bool,
        starting: bool,
    },
    /// Retrying cannot help.
    Fatal(Error),
}

/// Connects once.
pub(super) async fn connect(config: &PoolConfig) -> Result<(Client, PgConnection), Failure> {
    let attempt = tokio::time::timeout(config.connect_timeout, config.pg.connect(NoTls)).await;
    let error = match attempt {
        Ok(Ok(pair)) => return Ok(pair),
        Ok(Err(error)) => error,
        Err(_) => {
            return Err(Failure::Retry {
                cause: Error::new(Kind::ConnectTimeout(config.connect_timeout)).to_string(),
                refused: false,
                starting: false,
            });
        }
    };
    match config.classifier.classify(&error) {
        ErrorClass::Transient | ErrorClass::Discard | ErrorClass::FlushPool => {
            Err(Failure::Retry {
                refused: is_refused(&error),
                starting: error.code()
                    == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW),
                cause: describe(&error),
            })
        }
        ErrorClass::Fatal | ErrorClass::Statement => {
            let context = format!(
                "the listener cannot connect to {} and retrying cannot help ({})",
                target(&config.pg),
                advice(error.code().map(|c| c.code()))
            );
            Err(Failure::Fatal(Error::postgres(
                ErrorClass::Fatal,
                context,
                error,
            )))
        }
    }
}

/// What the user can do about a fatal connection error.
fn advice(code: Option<&str>) -> &'static str {
    match code {
        Some("28P01" | "28000") => {
            "check the user name and password in the database URL, and pg_hba.conf"
        }
        Some("3D000") => "check the database name in the URL, or create the database",
        Some(_) => "fix the cause the server names, then start the listener again",
        None => "check the database URL and the client settings",
    }
}

/// True when the server's address refused the connection (nothing listens there yet).
fn is_refused(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            );
        }
        source = e.source();
    }
    false
}

/// `user@host:port/dbname` for messages (never the password).
pub(super) fn target(pg: &Config) -> String {
    let user = pg.get_user().unwrap_or("?");
    let db = pg.get_dbname().unwrap_or(user);
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{port}", dir.display()),
            }
        })
        .collect();
    format!("{user}@{}/{db}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn names_the_target_without_the_password() {
        let pg = Config::from_str("postgres://app:secret@127.0.0.1:5433/jobs").unwrap();
        assert_eq!(target(&pg), "app@127.0.0.1:5433/jobs");
        let pg = Config::from_str("host=/tmp port=7 user=u").unwrap();
        assert_eq!(target(&pg), "u@/tmp/.s.PGSQL.7/u");
    }
}
