//! The slot check before streaming: it must be a logical pgoutput slot of this database whose
//! WAL is not lost; a missing one is created later, on the replication connection, only with
//! `create`.

use tokio_postgres::Client;

use super::Spec;
use crate::error::Error;

/// Checks the slot; `Ok(true)` when it is missing and `create` allows making it.
pub(super) async fn check(client: &Client, spec: &Spec) -> Result<bool, Error> {
    let name = &spec.slot;
    let row = client
        .query_opt(
            "SELECT slot_type, plugin, database::text, current_database()::text, wal_status, \
                    confirmed_flush_lsn::text \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[name],
        )
        .await
        .map_err(|e| Error::postgres("checking the replication slot", e))?;
    let Some(row) = row else {
        if spec.create {
            return Ok(true);
        }
        return Err(Error::setup(format!(
            "the replication slot {name:?} does not exist; pass --create to create it (a new \
             slot starts at the current end of the WAL: changes made before it are not \
             streamed), or check the name"
        )));
    };
    let kind: Option<String> = row.get(0);
    let plugin: Option<String> = row.get(1);
    let database: Option<String> = row.get(2);
    let current: String = row.get(3);
    let wal_status: Option<String> = row.get(4);
    let confirmed: Option<String> = row.get(5);
    if kind.as_deref() != Some("logical") || plugin.as_deref() != Some("pgoutput") {
        return Err(Error::setup(format!(
            "the replication slot {name:?} is not a logical pgoutput slot (type {}, plugin {}); \
             choose another --slot",
            kind.as_deref().unwrap_or("?"),
            plugin.as_deref().unwrap_or("none")
        )));
    }
    if database.as_deref() != Some(current.as_str()) {
        return Err(Error::setup(format!(
            "the replication slot {name:?} belongs to database {:?}, not {current:?}; connect \
             to that database or choose another --slot",
            database.as_deref().unwrap_or("?")
        )));
    }
    if wal_status.as_deref() == Some("lost") {
        return Err(Error::setup(format!(
            "the replication slot {name:?} was invalidated (wal_status lost): the WAL it needed \
             was removed and changes after {} are gone; drop it (pgkeel stream drop), create \
             a new one and resynchronize the consumer",
            confirmed.as_deref().unwrap_or("its position")
        )));
    }
    Ok(false)
}
