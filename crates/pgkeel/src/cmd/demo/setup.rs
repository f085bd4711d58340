//! The demo's schema: the tables the workload writes, each change with a ledger row in the
//! same transaction, so the referee learns from the database itself what was committed —
//! also when a client saw an error for a commit that happened.

use anyhow::Context;

/// The publication and slot of the change stream.
pub(super) const PUBLICATION: &str = "pgkeel_demo";
pub(super) const SLOT: &str = "pgkeel_demo";
/// The streamed table.
pub(super) const ORDERS: &str = "public.demo_orders";
/// The cache's name (its row in pgkeel.cache_versions).
pub(super) const CACHE: &str = "demo_config";
/// The job queue.
pub(super) const QUEUE: &str = "demo";
/// Accounts the jobs credit.
pub(super) const ACCOUNTS: i32 = 10;

const TABLES: &str = "
CREATE TABLE demo_orders (
    id bigserial PRIMARY KEY,
    status text NOT NULL,
    version int NOT NULL
);
-- One row per committed order change: (order, version) as the stream must deliver it.
CREATE TABLE demo_ledger (
    order_id bigint NOT NULL,
    version int NOT NULL,
    PRIMARY KEY (order_id, version)
);
CREATE TABLE demo_config (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO demo_config VALUES ('feature_flag', 'off'), ('rate_limit', '100');
-- One row per committed enqueue.
CREATE TABLE demo_jobs_enqueued (job_key text PRIMARY KEY, account int NOT NULL);
-- One row per job whose effect was applied; later runs of it count as redelivered.
CREATE TABLE demo_job_done (
    job_key text PRIMARY KEY,
    worker text NOT NULL,
    redelivered int NOT NULL DEFAULT 0
);
-- The jobs' effect: each job credits its account once.
CREATE TABLE demo_accounts (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
";

/// A plain connection straight to the cluster (not through the proxy), for setup and the
/// referee: they must see the database as it is, not as the faults make it look.
pub(super) async fn connect_direct(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
        .context("cannot connect straight to the demo database")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Runs `sql` and returns the first column of its first row as text ("" when none).
pub(super) async fn scalar(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
        .with_context(|| format!("the demo's query failed: {sql}"))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some(row.get(0).unwrap_or("").to_owned())
            }
            _ => None,
        })
        .unwrap_or_default())
}

/// Creates the tables and the `pgkeel_work` schema, straight on the cluster.
pub(super) async fn create(url: &str) -> anyhow::Result<()> {
    let mut client = connect_direct(url).await?;
    client
        .batch_execute(TABLES)
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))
        .context("cannot create the demo's tables")?;
    client
        .batch_execute(&format!(
            "INSERT INTO demo_accounts SELECT g FROM generate_series(0, {}) g",
            ACCOUNTS - 1
        ))
        .await
        .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))?;
    for sql in pgkeel_conn::cache_sync::SETUP_SQL {
        client
            .batch_execute(sql)
            .await
            .map_err(|e| anyhow::anyhow!(pgkeel_conn::describe_postgres(&e)))?;
    }
    pgkeel_work::migrate(&mut client)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot create the pgkeel_work schema")?;
    Ok(())
}
