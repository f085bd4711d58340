//! The idempotent setup before streaming (Firezone's state machine): check the publication →
//! create it (or change its table list) → check the slot → create it. A missing or
//! invalidated slot without `create` is fatal: restarting from "now" would skip changes.

use tokio_postgres::Client;

use crate::error::Error;
use crate::lsn::Lsn;

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
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The publication was created.
    pub publication_created: bool,
    /// The publication's table list was changed.
    pub publication_altered: bool,
    /// The slot must be created (on the replication connection, which does it).
    pub slot_missing: bool,
    /// The slot's confirmed position, when it exists.
    pub confirmed_flush: Option<Lsn>,
    /// Published tables whose updates and deletes PostgreSQL will refuse (no replica identity).
    pub without_identity: Vec<String>,
}

/// Types that are not built in (OID ≥ 16384: enums, domains, arrays of them, composites ...),
/// so their values can be typed: enums as strings, domains like their base type, arrays as
/// JSON arrays.
pub async fn custom_types(
    client: &Client,
) -> Result<std::collections::HashMap<u32, crate::value::CustomType>, Error> {
    use crate::value::CustomType;
    let rows = client
        .query(
            "SELECT oid::int8, typtype::text, typbasetype::int8, typelem::int8, typcategory::text \
             FROM pg_catalog.pg_type WHERE oid >= 16384",
            &[],
        )
        .await
        .map_err(|e| Error::postgres("reading the custom types", e))?;
    let oid = |v: i64| u32::try_from(v).unwrap_or(0);
    Ok(rows
        .iter()
        .map(|r| {
            let kind: String = r.get(1);
            let category: String = r.get(4);
            let custom = match (kind.as_str(), category.as_str()) {
                ("e", _) => CustomType::Enum,
                ("d", _) => CustomType::Domain {
                    base: oid(r.get(2)),
                },
                (_, "A") if r.get::<_, i64>(3) != 0 => CustomType::Array {
                    element: oid(r.get(3)),
                },
                _ => CustomType::Other,
            };
            (oid(r.get(0)), custom)
        })
        .collect())
}

/// `schema.table` → `("schema", "table")`; a bare name is in `public`.
pub fn split_table(name: &str) -> Result<(String, String), Error> {
    let name = name.trim();
    let (schema, table) = match name.split_once('.') {
        Some((s, t)) => (s, t),
        None => ("public", name),
    };
    if schema.is_empty() || table.is_empty() || table.contains('.') {
        return Err(Error::setup(format!(
            "{name:?} is not a table name; use table or schema.table"
        )));
    }
    Ok((schema.to_owned(), table.to_owned()))
}

/// `"name"` with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Checks (and with `create`, makes) the publication; checks the slot.
pub async fn prepare(client: &Client, spec: &Spec) -> Result<Report, Error> {
    let mut report = Report::default();
    publication(client, spec, &mut report).await?;
    slot(client, spec, &mut report).await?;
    report.without_identity = without_identity(client, &spec.publication).await?;
    Ok(report)
}

async fn publication(client: &Client, spec: &Spec, report: &mut Report) -> Result<(), Error> {
    let name = &spec.publication;
    let row = client
        .query_opt(
            "SELECT puballtables FROM pg_catalog.pg_publication WHERE pubname = $1",
            &[name],
        )
        .await
        .map_err(|e| Error::postgres("checking the publication", e))?;
    let wanted: Option<Vec<(String, String)>> = match &spec.tables {
        Tables::List(list) => Some(
            list.iter()
                .map(|t| split_table(t))
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    let Some(row) = row else {
        if !spec.create {
            return Err(Error::setup(format!(
                "the publication {name:?} does not exist; pass --create with --tables or \
                 --all-tables to create it, or check the name"
            )));
        }
        let target = match (&spec.tables, &wanted) {
            (Tables::All, _) => "FOR ALL TABLES".to_owned(),
            (_, Some(list)) if !list.is_empty() => format!("FOR TABLE {}", table_list(list)),
            _ => {
                return Err(Error::setup(format!(
                    "the publication {name:?} does not exist and no tables were named; pass \
                     --tables a,b or --all-tables with --create"
                )));
            }
        };
        let sql = format!("CREATE PUBLICATION {} {target}", quote_ident(name));
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| Error::postgres(format!("creating the publication ({sql})"), e))?;
        tracing::info!(publication = %name, %target, "publication created");
        report.publication_created = true;
        return Ok(());
    };
    let all_tables: bool = row.get(0);
    match (&spec.tables, wanted) {
        (Tables::All, _) if !all_tables => Err(Error::setup(format!(
            "the publication {name:?} exists for a list of tables, not FOR ALL TABLES; drop it \
             (pgkeel stream drop) or pass --tables"
        ))),
        (Tables::List(_), Some(_)) if all_tables => Err(Error::setup(format!(
            "the publication {name:?} is FOR ALL TABLES; drop it (pgkeel stream drop) to \
             publish a list of tables, or leave out --tables"
        ))),
        (Tables::List(_), Some(mut wanted)) => {
            let mut current = published(client, name).await?;
            wanted.sort();
            wanted.dedup();
            current.sort();
            if current == wanted {
                return Ok(());
            }
            if !spec.create {
                return Err(Error::setup(format!(
                    "the publication {name:?} covers {} but --tables names {}; pass --create to \
                     change it",
                    names(&current),
                    names(&wanted)
                )));
            }
            let sql = format!(
                "ALTER PUBLICATION {} SET TABLE {}",
                quote_ident(name),
                table_list(&wanted)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| Error::postgres(format!("changing the publication ({sql})"), e))?;
            tracing::info!(publication = %name, tables = %names(&wanted), "publication tables changed");
            report.publication_altered = true;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn published(client: &Client, publication: &str) -> Result<Vec<(String, String)>, Error> {
    let rows = client
        .query(
            "SELECT schemaname::text, tablename::text FROM pg_catalog.pg_publication_tables \
             WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| Error::postgres("listing the publication's tables", e))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn slot(client: &Client, spec: &Spec, report: &mut Report) -> Result<(), Error> {
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
            report.slot_missing = true;
            return Ok(());
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
    report.confirmed_flush = confirmed.and_then(|c| c.parse().ok());
    Ok(())
}

/// Published tables with neither a primary key nor another replica identity.
async fn without_identity(client: &Client, publication: &str) -> Result<Vec<String>, Error> {
    let rows = client
        .query(
            "SELECT format('%I.%I', t.schemaname, t.tablename) \
             FROM pg_catalog.pg_publication_tables t \
             JOIN pg_catalog.pg_namespace n ON n.nspname = t.schemaname \
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.tablename \
             WHERE t.pubname = $1 AND c.relreplident = 'd' \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                               WHERE i.indrelid = c.oid AND i.indisprimary) \
             ORDER BY 1",
            &[&publication],
        )
        .await
        .map_err(|e| Error::postgres("checking replica identities", e))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn table_list(tables: &[(String, String)]) -> String {
    tables
        .iter()
        .map(|(s, t)| format!("{}.{}", quote_ident(s), quote_ident(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(tables: &[(String, String)]) -> String {
    if tables.is_empty() {
        return "no tables".to_owned();
    }
    tables
        .iter()
        .map(|(s, t)| format!("{s}.{t}"))
        .collect::<Vec<_>>()
        .join(", ")
}
