//! A slot and a publication as they are now, for `pgkeel stream status`: the slot's
//! positions, lag and retained WAL, and the tables the publication covers.

use serde::Serialize;
use tokio_postgres::Client;

use crate::error::Error;
use crate::lsn::Lsn;

/// A replication slot as `pg_replication_slots` shows it, with its distance from the
/// server's current WAL position. Serializes to the object `pgkeel stream status --json`
/// prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotStatus {
    /// The slot's name.
    pub name: String,
    /// A walsender is streaming it now.
    pub active: bool,
    /// The pid of that walsender.
    pub active_pid: Option<i32>,
    /// The position the consumer confirmed (changes before it are not sent again).
    pub confirmed_flush_lsn: Option<Lsn>,
    /// The oldest WAL position the slot keeps.
    pub restart_lsn: Option<Lsn>,
    /// Bytes of WAL between the server's position and `confirmed_flush_lsn`.
    pub lag_bytes: Option<i64>,
    /// Bytes of WAL the server keeps for the slot (from `restart_lsn`).
    pub retained_wal_bytes: Option<i64>,
    /// `reserved`, `extended`, `unreserved` or `lost` (lost: the slot cannot stream again).
    pub wal_status: Option<String>,
    /// Bytes of WAL that can still be written before the slot is in danger of losing what it
    /// needs (`max_slot_wal_keep_size`; `None` when unlimited).
    pub safe_wal_size: Option<i64>,
    /// Created with two-phase decoding.
    pub two_phase: bool,
    /// The server's current WAL position.
    pub server_wal_lsn: Option<Lsn>,
}

/// A publication and the tables it covers. Serializes to the object `pgkeel stream status
/// --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicationStatus {
    /// The publication's name.
    pub name: String,
    /// `FOR ALL TABLES`.
    pub all_tables: bool,
    /// The published tables as `schema.table` (each part quoted when it needs to be), sorted.
    pub tables: Vec<String>,
}

/// The slot `slot`, or `None` when it does not exist.
pub async fn slot_status(client: &Client, slot: &str) -> Result<Option<SlotStatus>, Error> {
    let row = client
        .query_opt(
            "SELECT active, active_pid, confirmed_flush_lsn::text, restart_lsn::text, \
                    (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint, \
                    (pg_current_wal_lsn() - restart_lsn)::bigint, wal_status, two_phase, \
                    pg_current_wal_lsn()::text, safe_wal_size \
             FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| Error::postgres("reading pg_replication_slots", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let lsn = |index: usize| -> Result<Option<Lsn>, Error> {
        row.get::<_, Option<String>>(index)
            .map(|text| {
                text.parse().map_err(|e| {
                    Error::protocol(format!("pg_replication_slots of slot {slot:?}: {e}"))
                })
            })
            .transpose()
    };
    Ok(Some(SlotStatus {
        name: slot.to_owned(),
        active: row.get(0),
        active_pid: row.get(1),
        confirmed_flush_lsn: lsn(2)?,
        restart_lsn: lsn(3)?,
        lag_bytes: row.get(4),
        retained_wal_bytes: row.get(5),
        wal_status: row.get(6),
        two_phase: row.get(7),
        server_wal_lsn: lsn(8)?,
        safe_wal_size: row.get(9),
    }))
}

/// The publication `publication`, or `None` when it does not exist.
pub async fn publication_status(
    client: &Client,
    publication: &str,
) -> Result<Option<PublicationStatus>, Error> {
    let row = client
        .query_opt(
            "SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| Error::postgres("reading pg_publication", e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let tables = client
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_catalog.pg_publication_tables \
             WHERE pubname = $1 ORDER BY 1",
            &[&publication],
        )
        .await
        .map_err(|e| Error::postgres("reading pg_publication_tables", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(Some(PublicationStatus {
        name: publication.to_owned(),
        all_tables: row.get(0),
        tables,
    }))
}
