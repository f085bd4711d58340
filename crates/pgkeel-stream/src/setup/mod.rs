//! The SQL around a stream, on an ordinary connection. Before streaming, the idempotent setup
//! (Firezone's state machine): check the publication → create it (or change its table list) →
//! check the slot → create it. A missing or invalidated slot without `create` is fatal:
//! restarting from "now" would skip changes. Beside it, what `pgkeel stream status` and
//! `drop` run.
//!
//! | file | what |
//! |---|---|
//! | `publication.rs` | check, create or change the publication; tables without replica identity |
//! | `slot.rs` | check the slot (logical, pgoutput, this database, not lost) |
//! | `types.rs` | the custom types from `pg_type` |
//! | `status.rs` | slot and publication as they are ([`slot_status`], [`publication_status`]) |
//! | `drop.rs` | remove slot and publication ([`drop_slot`], [`drop_publication`]) |

mod drop;
mod publication;
mod slot;
mod status;
mod types;

use tokio_postgres::Client;

use crate::error::Error;

pub use drop::{drop_publication, drop_slot};
pub use status::{PublicationStatus, SlotStatus, publication_status, slot_status};
pub(crate) use types::custom_types;

/// Which tables the publication covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tables {
    /// Use the publication as it is (it must exist).
    Existing,
    /// `FOR ALL TABLES`.
    All,
    /// `FOR TABLE ...`: `table` or `schema.table`, taken literally (case-sensitive).
    List(Vec<String>),
}

/// What the stream needs to exist.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The replication slot.
    pub slot: String,
    /// The publication.
    pub publication: String,
    /// Which tables it covers.
    pub tables: Tables,
    /// Create the publication and the slot when missing (and change the table list).
    pub create: bool,
    /// Decode prepared transactions at PREPARE time (slot created with two_phase).
    pub two_phase: bool,
}

/// What the setup found or did.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// The slot must be created (on the replication connection, which does it).
    pub(crate) slot_missing: bool,
    /// Published tables whose updates and deletes PostgreSQL will refuse (no replica identity).
    pub(crate) without_identity: Vec<String>,
}

/// Checks (and with `create`, makes) the publication; checks the slot.
pub(crate) async fn prepare(client: &Client, spec: &Spec) -> Result<Report, Error> {
    publication::check(client, spec).await?;
    let slot_missing = slot::check(client, spec).await?;
    let without_identity = publication::without_identity(client, &spec.publication).await?;
    Ok(Report {
        slot_missing,
        without_identity,
    })
}
