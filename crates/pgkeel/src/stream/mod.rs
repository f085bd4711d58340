//! The parts of `pgkeel stream` beside the stream itself: status, drop, metrics endpoint.

pub(crate) mod drop;
pub(crate) mod metrics;
pub(crate) mod status;

/// Connects an ordinary session for the subcommands.
pub(crate) async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    use anyhow::Context;
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
        .context("cannot connect to the database (check --database-url)")?;
    tokio::spawn(connection);
    Ok(client)
}
