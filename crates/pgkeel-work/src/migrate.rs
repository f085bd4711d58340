//! Versioned, idempotent migrations of the `pgkeel_work` schema: each applied once, in order,
//! in one transaction, under an advisory lock so concurrent starters do not race.

use tokio_postgres::Client;

use crate::error::Error;

/// Every migration, in order: (version, name, SQL).
pub const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "init", include_str!("../migrations/0001_init.sql"))];

/// Advisory lock key of the migration (an arbitrary constant: "pgkeel_w").
const LOCK_KEY: i64 = 0x7067_6b65_656c_5f77;

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Versions applied now.
    pub applied: Vec<i32>,
    /// The schema version afterwards.
    pub version: i32,
}

/// Brings the schema to the newest version; a no-op when it is there already.
pub async fn migrate(client: &mut Client) -> Result<Migrated, Error> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| Error::postgres("starting the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(|e| Error::postgres("taking the migration lock", e))?;
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning; \
         CREATE SCHEMA IF NOT EXISTS pgkeel_work; \
         CREATE TABLE IF NOT EXISTS pgkeel_work.migrations ( \
             version integer PRIMARY KEY, name text NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(|e| Error::postgres("creating the pgkeel_work schema", e))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM pgkeel_work.migrations",
            &[],
        )
        .await
        .map_err(|e| Error::postgres("reading the schema version", e))?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(Error::config(format!(
            "the database has pgkeel_work schema version {current}, newer than this build \
             knows ({newest}); upgrade pgkeel"
        )));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| Error::postgres(format!("applying migration {version} ({name})"), e))?;
        tx.execute(
            "INSERT INTO pgkeel_work.migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(|e| Error::postgres(format!("recording migration {version}"), e))?;
        applied.push(*version);
    }
    tx.commit()
        .await
        .map_err(|e| Error::postgres("committing the migration", e))?;
    if !applied.is_empty() {
        tracing::info!(?applied, version = newest, "pgkeel_work schema migrated");
    }
    Ok(Migrated {
        applied,
        version: current.max(newest),
    })
}
