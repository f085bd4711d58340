//! The publication: check it, create it `FOR TABLE`/`FOR ALL TABLES` or change its table list
//! (with `create`), and list published tables without a replica identity.

use pgkeel_wire::sql::quote_ident;
use tokio_postgres::Client;

use super::{Spec, Tables};
use crate::error::Error;

/// Checks (and with `create`, makes or changes) the publication.
pub(super) async fn check(client: &Client, spec: &Spec) -> Result<(), Error> {
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

/// `schema.table` → `("schema", "table")`; a bare name is in `public`.
fn split_table(name: &str) -> Result<(String, String), Error> {
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

/// Published tables with neither a primary key nor another replica identity.
pub(super) async fn without_identity(
    client: &Client,
    publication: &str,
) -> Result<Vec<String>, Error> {
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
