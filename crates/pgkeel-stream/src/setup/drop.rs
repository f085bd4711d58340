//! Removing what a stream set up, for `pgkeel stream drop`: the slot (so the server stops
//! keeping WAL for it) and the publication. Each says whether there was something to drop.

use pgkeel_wire::sql::quote_ident;
use tokio_postgres::Client;

use crate::error::Error;

/// Drops the replication slot `slot`: `Ok(true)` when it was dropped, `Ok(false)` when there
/// was none. A slot in use (a stream is running) is refused with an error naming the process,
/// so a running consumer is not cut off.
pub async fn drop_slot(client: &Client, slot: &str) -> Result<bool, Error> {
    let row = client
        .query_opt(
            "SELECT active, active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| Error::postgres("reading pg_replication_slots", e))?;
    let Some(row) = row else {
        return Ok(false);
    };
    if row.get::<_, bool>(0) {
        return Err(Error::setup(format!(
            "the slot {slot:?} is in use by process {} (a running `pgkeel stream`?); stop that \
             first, then drop",
            row.get::<_, Option<i32>>(1).unwrap_or(0)
        )));
    }
    client
        .execute("SELECT pg_drop_replication_slot($1)", &[&slot])
        .await
        .map_err(|e| Error::postgres(format!("dropping the slot {slot:?}"), e))?;
    Ok(true)
}

/// Drops the publication `publication`: `Ok(true)` when it was dropped, `Ok(false)` when
/// there was none.
pub async fn drop_publication(client: &Client, publication: &str) -> Result<bool, Error> {
    let existed = client
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| Error::postgres("reading pg_publication", e))?
        .is_some();
    if !existed {
        return Ok(false);
    }
    let sql = format!("DROP PUBLICATION IF EXISTS {}", quote_ident(publication));
    client
        .batch_execute(&sql)
        .await
        .map_err(|e| Error::postgres(format!("dropping the publication {publication:?}"), e))?;
    Ok(true)
}
