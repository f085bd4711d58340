//! In-database configuration: `pgkeel.*` settings of the role `serve` connects as
//! (`ALTER ROLE current_user SET pgkeel.schemas = 'app'`), read from the catalog so a change
//! is seen without reconnecting. A database-specific setting wins over a role-wide one.

/// Settings found in the database; `None` = not set there.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub(crate) struct RoleConfig {
    /// `pgkeel.schemas`: comma-separated schemas to cache.
    pub(crate) schemas: Option<Vec<String>>,
}

/// Reads the current role's `pgkeel.*` settings.
pub(crate) async fn load(
    client: &tokio_postgres::Client,
) -> Result<RoleConfig, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT s.setdatabase <> 0, unnest(s.setconfig) \
             FROM pg_catalog.pg_db_role_setting s \
             WHERE s.setrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) \
               AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())) \
             ORDER BY 1",
            &[],
        )
        .await?;
    let mut config = RoleConfig::default();
    // Role-wide rows come first, so database-specific ones overwrite them.
    for row in rows {
        let setting: String = row.get(1);
        let Some((name, value)) = setting.split_once('=') else {
            continue;
        };
        if name == "pgkeel.schemas" {
            config.schemas = Some(parse_schemas(value));
        }
    }
    Ok(config)
}

/// `app, public` → `["app", "public"]` (empty items dropped).
pub(crate) fn parse_schemas(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().trim_matches('"').to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_lists() {
        assert_eq!(parse_schemas("app, public"), vec!["app", "public"]);
        assert_eq!(parse_schemas(" ,x,"), vec!["x"]);
    }
}
