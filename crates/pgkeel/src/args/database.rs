//! `--database-url` (or `DATABASE_URL`), parsed by clap into a [`Database`] (libpq URL or
//! `key=value` DSN, the `PG*` environment filling in the rest), and the one way the
//! subcommands open an ordinary session on it.

use std::ffi::OsStr;

use anyhow::Context;
use clap::error::ErrorKind;
use pgkeel_net::Database;

/// The database a subcommand talks to.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DatabaseArgs {
    /// The database: postgres://user:password@host:port/db or 'host=... dbname=...'.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        required = true,
        value_parser = DatabaseParser
    )]
    pub(crate) database: Database,
}

impl DatabaseArgs {
    /// Opens a session (its connection driven by a task of its own), named `application_name`
    /// in `pg_stat_activity` unless the connection string or `PGAPPNAME` names it.
    pub(crate) async fn connect(
        &self,
        application_name: &str,
    ) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = self
            .database
            .clone()
            .with_default_application_name(application_name)
            .connect()
            .await
            .map_err(|e| match e.postgres_error() {
                // What the server or the network said, in full; a timeout names the target.
                Some(pg) => anyhow::anyhow!(pgkeel_net::describe_postgres(pg)),
                None => anyhow::anyhow!(e),
            })
            .context("cannot connect to the database (check --database-url)")?;
        tokio::spawn(connection);
        Ok(client)
    }
}

/// Parses the connection string as a clap value, so a bad one is a usage error naming
/// `--database-url`. Unlike clap's own parsers it never repeats the value: it may hold a
/// password.
#[derive(Debug, Clone, Copy)]
struct DatabaseParser;

impl clap::builder::TypedValueParser for DatabaseParser {
    type Value = Database;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Database, clap::Error> {
        let name = arg.map_or_else(|| "--database-url".to_owned(), ToString::to_string);
        let fail = |kind, message: String| clap::Error::raw(kind, message).with_cmd(cmd);
        let text = value
            .to_str()
            .ok_or_else(|| fail(ErrorKind::InvalidUtf8, format!("{name} is not UTF-8\n")))?;
        Database::parse(text).map_err(|e| {
            fail(
                ErrorKind::ValueValidation,
                format!("invalid value for {name}: {e}\n"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        db: DatabaseArgs,
    }

    #[test]
    fn a_url_or_dsn_parses_and_a_bad_one_is_a_usage_error_naming_the_flag() {
        let cli = Cli::try_parse_from(["t", "--database-url", "postgres://app@db.example:6543/x"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.db.database.describe(), "app@db.example:6543/x");
        let dsn = Cli::try_parse_from(["t", "--database-url", "host=h user=u dbname=d"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(dsn.db.database.user(), "u");

        let bad = Cli::try_parse_from(["t", "--database-url", "postgres://u:secret@h:notaport/d"])
            .err()
            .map(|e| (e.kind(), e.to_string()));
        let Some((kind, text)) = bad else {
            panic!("a bad URL was accepted");
        };
        assert_eq!(kind, ErrorKind::ValueValidation);
        assert!(text.contains("--database-url <URL>"), "{text}");
        assert!(text.contains("does not parse"), "{text}");
        assert!(!text.contains("secret"), "the password is shown: {text}");
    }
}
