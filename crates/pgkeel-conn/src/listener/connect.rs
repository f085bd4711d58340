//! Opening the listener's connection through pgkeel-net's connector, and deciding whether a
//! failure is worth retrying (and whether the server refused outright, for the fast probe) or
//! fatal (wrong password, missing database, ...).

use pgkeel_net::{Database, PgConnection, describe_postgres};
use tokio_postgres::Client;

use crate::class::{Classifier, ErrorClass};
use crate::error::{Error, Kind};

/// Why connecting failed, and what to do about it.
#[derive(Debug)]
pub(super) enum Failure {
    /// Try again after the backoff. `refused`: nothing listens at the address (the fast probe
    /// can tell when something does again). `starting`: the server listens but is starting up
    /// (57P03), so try again within milliseconds. `upstream_down`: a pooler or proxy in front
    /// of the server answered for it (try again at the fast-probe cadence).
    Retry {
        cause: String,
        refused: bool,
        starting: bool,
        upstream_down: bool,
    },
    /// Retrying cannot help.
    Fatal(Error),
}

/// Connects once (within the database's connect timeout).
pub(super) async fn connect(
    database: &Database,
    classifier: &Classifier,
) -> Result<(Client, PgConnection), Failure> {
    let failed = match database.connect().await {
        Ok(pair) => return Ok(pair),
        Err(failed) => failed,
    };
    let refused = failed.is_refused();
    let upstream_down = failed.is_upstream_unavailable();
    let error = match failed.into_postgres_error() {
        Ok(error) => error,
        Err(timed_out) => {
            let after = timed_out.timed_out().unwrap_or(database.connect_timeout());
            return Err(Failure::Retry {
                cause: Error::new(Kind::ConnectTimeout(after)).to_string(),
                refused: false,
                starting: false,
                upstream_down: false,
            });
        }
    };
    match classifier.classify(&error) {
        ErrorClass::Transient | ErrorClass::Discard | ErrorClass::FlushPool => {
            Err(Failure::Retry {
                refused,
                upstream_down,
                starting: error.code()
                    == Some(&tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW),
                cause: describe_postgres(&error),
            })
        }
        ErrorClass::Fatal | ErrorClass::Statement => {
            let context = format!(
                "the listener cannot connect to {} and retrying cannot help ({})",
                database.describe(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_target_without_the_password() {
        // The target a fatal listener error names.
        let target = |url: &str| Database::parse_with_env(url, &|_| None).unwrap().describe();
        assert_eq!(
            target("postgres://app:secret@127.0.0.1:5433/jobs"),
            "app@127.0.0.1:5433/jobs"
        );
        assert_eq!(target("host=/tmp port=7 user=u"), "u@/tmp/.s.PGSQL.7/u");
    }

    #[test]
    fn fatal_advice_names_what_to_check() {
        assert!(advice(Some("28P01")).contains("user name and password"));
        assert!(advice(Some("28000")).contains("pg_hba.conf"));
        assert!(advice(Some("3D000")).contains("database name"));
        assert!(advice(Some("42501")).contains("the cause the server names"));
        assert!(advice(None).contains("database URL"));
    }
}
