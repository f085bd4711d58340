//! Replication commands on a connection that is not streaming: IDENTIFY_SYSTEM,
//! CREATE_REPLICATION_SLOT ... LOGICAL pgoutput (PostgreSQL 15 option syntax) and
//! DROP_REPLICATION_SLOT.

use pgkeel_wire::sql::quote_ident;

use crate::lsn::Lsn;
use crate::repl::connection::ReplicationConnection;
use crate::repl::error::ReplError;
use crate::repl::quote::check_slot_name;
use crate::repl::rows::TextRows;

/// The output plugin of the slots this client creates.
pub const PGOUTPUT: &str = "pgoutput";

/// What IDENTIFY_SYSTEM reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// The cluster's unique system identifier.
    pub system_id: String,
    /// The current timeline.
    pub timeline: u32,
    /// The current WAL flush position.
    pub xlogpos: Lsn,
    /// The database connected to.
    pub dbname: Option<String>,
}

/// Options of a new logical slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreateSlot {
    /// Dropped when this connection ends (or on error).
    pub temporary: bool,
    /// Decode prepared transactions at PREPARE TRANSACTION time.
    pub two_phase: bool,
}

/// A slot just created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCreated {
    /// The slot's name.
    pub name: String,
    /// The first position from which the slot will stream changes.
    pub consistent_point: Lsn,
    /// The exported snapshot's name (always `None`: slots are created with
    /// `SNAPSHOT 'nothing'`).
    pub snapshot_name: Option<String>,
    /// The output plugin.
    pub plugin: String,
}

impl ReplicationConnection {
    /// IDENTIFY_SYSTEM: the cluster's identity, timeline and current WAL position.
    pub async fn identify_system(&mut self) -> Result<SystemInfo, ReplError> {
        let what = "IDENTIFY_SYSTEM";
        let rows = self.simple_query(what).await?;
        let text = |column| self.required(&rows, what, column);
        Ok(SystemInfo {
            system_id: text("systemid")?.to_owned(),
            timeline: text("timeline")?
                .parse()
                .map_err(|_| self.shape_error(what, "timeline is not a number"))?,
            xlogpos: text("xlogpos")?
                .parse()
                .map_err(|_| self.shape_error(what, "xlogpos is not an LSN"))?,
            dbname: rows.get(0, "dbname").map(str::to_owned),
        })
    }

    /// CREATE_REPLICATION_SLOT `name` [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'nothing'[,
    /// TWO_PHASE]): no snapshot is taken, so the stream starts at the consistent point.
    /// It waits for running transactions to end (to find a consistent point). An existing slot
    /// is an error with SQLSTATE 42710.
    pub async fn create_logical_slot(
        &mut self,
        name: &str,
        options: CreateSlot,
    ) -> Result<SlotCreated, ReplError> {
        check_slot_name(name)?;
        let mut sql = format!("CREATE_REPLICATION_SLOT {} ", quote_ident(name));
        if options.temporary {
            sql.push_str("TEMPORARY ");
        }
        sql.push_str(&format!("LOGICAL {PGOUTPUT} (SNAPSHOT 'nothing'"));
        if options.two_phase {
            sql.push_str(", TWO_PHASE");
        }
        sql.push(')');
        let what = "CREATE_REPLICATION_SLOT";
        let rows = self.simple_query(&sql).await?;
        let text = |column| self.required(&rows, what, column);
        let created = SlotCreated {
            name: text("slot_name")?.to_owned(),
            consistent_point: text("consistent_point")?
                .parse()
                .map_err(|_| self.shape_error(what, "consistent_point is not an LSN"))?,
            snapshot_name: rows.get(0, "snapshot_name").map(str::to_owned),
            plugin: text("output_plugin")?.to_owned(),
        };
        tracing::info!(
            conn = self.transport.peer(),
            slot = %created.name,
            consistent_point = %created.consistent_point,
            temporary = options.temporary,
            "replication slot created"
        );
        Ok(created)
    }

    /// DROP_REPLICATION_SLOT `name` [WAIT]: with `wait`, an active slot is dropped once its
    /// walsender lets go instead of failing with 55006.
    pub async fn drop_slot(&mut self, name: &str, wait: bool) -> Result<(), ReplError> {
        check_slot_name(name)?;
        let wait = if wait { " WAIT" } else { "" };
        self.simple_query(&format!(
            "DROP_REPLICATION_SLOT {}{wait}",
            quote_ident(name)
        ))
        .await?;
        tracing::info!(
            conn = self.transport.peer(),
            slot = name,
            "replication slot dropped"
        );
        Ok(())
    }

    fn required<'r>(
        &self,
        rows: &'r TextRows,
        what: &str,
        column: &str,
    ) -> Result<&'r str, ReplError> {
        if rows.len() != 1 {
            return Err(self.shape_error(what, &format!("{} rows instead of one", rows.len())));
        }
        rows.get(0, column)
            .ok_or_else(|| self.shape_error(what, &format!("no value in column {column:?}")))
    }

    fn shape_error(&self, what: &str, reason: &str) -> ReplError {
        ReplError::protocol(
            self.transport.context(what),
            format!("unexpected result: {reason}"),
        )
    }
}
