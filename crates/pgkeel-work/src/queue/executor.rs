//! `Executor`: where a queue statement runs — a tokio-postgres `Client` or `Transaction` (to
//! enqueue atomically with your own writes), a pooled connection, or a `pgkeel_conn::Pool`.

use std::future::Future;
use std::time::Duration;

use pgkeel_conn::{Conn, Pool, Wait};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::{Error, Kind};

/// How long a statement run on a [`Pool`] waits for the pool to (re)connect.
pub const POOL_WAIT: Duration = Duration::from_secs(5);

/// Something that runs one SQL statement: [`tokio_postgres::Client`],
/// [`tokio_postgres::Transaction`], a pooled [`pgkeel_conn::Client`] or [`Conn`] (statements
/// prepared once per connection), or a [`Pool`] (a connection is checked out per statement; it
/// waits up to [`POOL_WAIT`] for recovery and never repeats a statement by itself).
pub trait Executor: Send + Sync {
    /// Runs `sql` with `params` and returns its rows; `what` names the operation in errors.
    fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a;
}

impl Executor for tokio_postgres::Client {
    async fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.query(sql, params)
            .await
            .map_err(|e| Error::postgres(what, e))
    }
}

impl Executor for tokio_postgres::Transaction<'_> {
    async fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.query(sql, params)
            .await
            .map_err(|e| Error::postgres(what, e))
    }
}

impl Executor for pgkeel_conn::Client {
    async fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        cached_query(self, sql, params)
            .await
            .map_err(|e| Error::postgres(what, e))
    }
}

impl Executor for Conn {
    fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
        (**self).query_rows(what, sql, params)
    }
}

impl Executor for Pool {
    async fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let outcome = self
            .run(Wait::UpTo(POOL_WAIT), |conn| async move {
                cached_query(&conn, sql, params).await
            })
            .await;
        match outcome {
            Ok(outcome) => Ok(outcome.value),
            Err(e) => {
                tracing::debug!(operation = what, error = %e, "queue statement failed");
                Err(Error::new(Kind::Pool(e)))
            }
        }
    }
}

impl<E: Executor + ?Sized> Executor for &E {
    fn query_rows<'a>(
        &'a self,
        what: &'static str,
        sql: &'static str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, Error>> + Send + 'a {
        (**self).query_rows(what, sql, params)
    }
}

/// One round trip once the statement is in the connection's cache.
async fn cached_query(
    client: &pgkeel_conn::Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, params).await
}
