//! Clients of a test database, opened through pgkeel's one connector (`pgkeel-net`), with the
//! connection driven in the background.

use pgkeel_net::{ConnectError, Database, PgConnection};

/// Connects to `url` (libpq URL or DSN) and drives the connection in a task.
pub async fn try_connect(url: &str) -> Result<tokio_postgres::Client, ConnectError> {
    let (client, connection) = connect_with_connection(url).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Connects to `url`.
///
/// # Panics
/// When connecting fails; the message names the URL and the cause.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    try_connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// Connects to `url` and returns the connection half too, for tests that poll it (e.g. for
/// notifications). The connection is not driven: poll or spawn it.
///
/// # Panics
/// When `url` does not parse.
pub async fn connect_with_connection(
    url: &str,
) -> Result<(tokio_postgres::Client, PgConnection), ConnectError> {
    let db = Database::parse_with_env(url, &|_| None)
        .unwrap_or_else(|e| panic!("the test URL {url} does not parse: {e}"));
    db.connect().await
}

/// The first column of the first row of a simple query, as text ("" when there is none).
pub async fn simple_scalar(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<String, tokio_postgres::Error> {
    for message in client.simple_query(sql).await? {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            return Ok(row.get(0).unwrap_or("").to_owned());
        }
    }
    Ok(String::new())
}

/// The SQLSTATE of a database error.
pub fn sqlstate(error: &tokio_postgres::Error) -> Option<String> {
    error.code().map(|c| c.code().to_owned())
}
