//! `ReplicationConnection`: a connection in `replication=database` mode — startup, session
//! parameters, and simple queries (the only query protocol a walsender accepts; it runs both
//! replication commands and ordinary SQL).

use std::collections::HashMap;
use std::time::Duration;

use pgkeel_net::Address;
use pgkeel_wire::encode;

use crate::repl::auth::authenticate;
use crate::repl::config::ReplConfig;
use crate::repl::db_error::{DbError, log_notice};
use crate::repl::error::ReplError;
use crate::repl::quote::check_no_nul;
use crate::repl::rows::TextRows;
use crate::repl::transport::Transport;

/// A replication connection that is not streaming (yet).
#[derive(Debug)]
pub struct ReplicationConnection {
    pub(crate) transport: Transport,
    pub(crate) timeout: Duration,
    parameters: HashMap<String, String>,
    backend_pid: Option<i32>,
    busy: bool,
}

impl ReplicationConnection {
    /// Connects to the first address of `config` that answers (each bounded by the connect
    /// timeout), authenticates and waits until the session is ready. A fatal error (bad
    /// password, no such database) stops at once; other failures try the next address.
    pub async fn connect(config: &ReplConfig) -> Result<Self, ReplError> {
        let mut last = None;
        let timeout = config.database().connect_timeout();
        for address in config.addresses() {
            let attempt = tokio::time::timeout(timeout, connect_to(config, address)).await;
            let error = match attempt {
                Ok(Ok(client)) => return Ok(client),
                Ok(Err(e)) if e.is_fatal() => return Err(e),
                Ok(Err(e)) => e,
                Err(_) => ReplError::timeout(
                    format!("connecting to {address} as {:?}", config.database().user()),
                    timeout,
                ),
            };
            tracing::debug!(%address, %error, "cannot connect");
            last = Some(error);
        }
        Err(last.unwrap_or_else(|| ReplError::config("no address to connect to")))
    }

    /// A session parameter the server reported (`server_version`, `server_encoding`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The pid of the walsender serving this connection.
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_pid
    }

    /// Runs `sql` (a replication command or ordinary SQL; several statements allowed) and
    /// returns the rows of the last statement that returned rows. Not cancel-safe: a call
    /// cancelled midway leaves the connection unusable (later calls fail with a transient
    /// error).
    pub async fn simple_query(&mut self, sql: &str) -> Result<TextRows, ReplError> {
        let what = describe_query(sql);
        check_no_nul("the query", sql)?;
        let message = encode::query(sql).map_err(|e| ReplError::invalid(format!("{what}: {e}")))?;
        self.begin(&what)?;
        self.transport.send(&message, &what).await?;
        self.read_results(&what).await
    }

    /// Marks the connection busy; refuses when an earlier call was abandoned midway.
    pub(crate) fn begin(&mut self, what: &str) -> Result<(), ReplError> {
        if self.busy {
            return Err(ReplError::poisoned(self.transport.context(what)));
        }
        self.busy = true;
        Ok(())
    }

    async fn read_results(&mut self, what: &str) -> Result<TextRows, ReplError> {
        let mut current: Option<TextRows> = None;
        let mut last = TextRows::default();
        let mut error: Option<ReplError> = None;
        loop {
            let frame = match self.transport.read_frame(what).await {
                Ok(frame) => frame,
                // A FATAL error is followed by the server closing the connection.
                Err(e) => return Err(error.unwrap_or(e)),
            };
            let frame = frame.as_ref();
            let protocol = |reason: &str| ReplError::protocol(self.transport.context(what), reason);
            match frame.tag() {
                Some(b'T') => {
                    current =
                        Some(TextRows::from_description(frame.body()).map_err(|r| protocol(&r))?)
                }
                Some(b'D') => current
                    .as_mut()
                    .ok_or_else(|| protocol("DataRow without RowDescription"))?
                    .push_data_row(frame.body())
                    .map_err(|r| protocol(&r))?,
                Some(b'C') => {
                    if let Some(rows) = current.take() {
                        last = rows;
                    }
                }
                Some(b'I' | b'A' | b'H' | b'd' | b'c') => {}
                Some(b'E') => {
                    let e = server_error(&self.transport, what, frame);
                    error.get_or_insert(e);
                }
                Some(b'N') => log_notice(self.transport.peer(), frame),
                Some(b'S') => self.record_parameter(frame),
                Some(b'G') => {
                    // COPY FROM STDIN: refuse; the server answers with an ErrorResponse.
                    let fail = encode::tagged(b'f', b"COPY is not supported on this connection\0")
                        .map_err(|e| ReplError::invalid(e.to_string()))?;
                    self.transport.send(&fail, what).await?;
                }
                Some(b'W') => {
                    return Err(ReplError::invalid(format!(
                        "{what}: the command started streaming; use start_logical for \
                         START_REPLICATION (this connection is now unusable)"
                    )));
                }
                Some(b'Z') => {
                    self.busy = false;
                    return match error {
                        Some(e) => Err(e),
                        None => Ok(last),
                    };
                }
                other => return Err(protocol(&format!("unexpected message {}", tag_name(other)))),
            }
        }
    }

    pub(crate) fn record_parameter(&mut self, frame: pgkeel_wire::FrameRef<'_>) {
        if let Ok(status) = frame.parameter_status()
            && let (Ok(name), Ok(value)) = (status.name(), status.value())
        {
            self.parameters.insert(
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            );
        }
    }

    /// Ends the session (Terminate) and closes the socket.
    pub async fn close(self) {
        self.transport.terminate().await;
    }
}

/// Opens the socket, sends the startup message, authenticates and waits for ReadyForQuery.
async fn connect_to(
    config: &ReplConfig,
    address: &Address,
) -> Result<ReplicationConnection, ReplError> {
    let database = config.database();
    let user = database.user();
    let socket = database
        .connect_socket(address)
        .await
        .map_err(|e| ReplError::connect(address.to_string(), e))?;
    let mut transport = Transport::new(socket, address.to_string(), config.max_message_len());
    let mut params = vec![
        ("user", user),
        ("replication", "database"),
        ("client_encoding", "UTF8"),
        ("application_name", database.application_name()),
    ];
    if let Some(db) = database.dbname() {
        params.push(("database", db));
    }
    if let Some(options) = database.options() {
        params.push(("options", options));
    }
    let startup = encode::startup_message(3, 0, &params)
        .map_err(|e| ReplError::invalid(format!("cannot encode the startup message: {e}")))?;
    transport
        .send(&startup, "sending the startup message")
        .await
        .map_err(ReplError::at_startup)?;
    authenticate(&mut transport, user, database.password())
        .await
        .map_err(ReplError::at_startup)?;

    let mut client = ReplicationConnection {
        transport,
        timeout: database.connect_timeout(),
        parameters: HashMap::new(),
        backend_pid: None,
        busy: false,
    };
    let what = "starting the session";
    loop {
        let frame = client
            .transport
            .read_frame(what)
            .await
            .map_err(ReplError::at_startup)?;
        let frame = frame.as_ref();
        match frame.tag() {
            Some(b'S') => client.record_parameter(frame),
            Some(b'K') => {
                client.backend_pid = frame.backend_key_data().and_then(|k| k.pid()).ok();
            }
            Some(b'N') => log_notice(client.transport.peer(), frame),
            Some(b'E') => return Err(server_error(&client.transport, what, frame)),
            Some(b'Z') => break,
            other => {
                return Err(ReplError::protocol(
                    client.transport.context(what),
                    format!("unexpected message {}", tag_name(other)),
                ));
            }
        }
    }
    if let Some(pid) = client.backend_pid {
        client.transport.set_peer(format!("{address} pid {pid}"));
    }
    tracing::debug!(
        conn = client.transport.peer(),
        user,
        "replication connection ready"
    );
    Ok(client)
}

/// The error of an ErrorResponse (a protocol error if it is malformed).
pub(crate) fn server_error(
    transport: &Transport,
    what: &str,
    frame: pgkeel_wire::FrameRef<'_>,
) -> ReplError {
    match DbError::parse(frame) {
        Some(db) => ReplError::server(transport.context(what), db),
        None => ReplError::protocol(transport.context(what), "malformed ErrorResponse"),
    }
}

/// A message tag for error texts.
pub(crate) fn tag_name(tag: Option<u8>) -> String {
    match tag {
        Some(t) if t.is_ascii_graphic() => format!("'{}'", t as char),
        Some(t) => format!("0x{t:02x}"),
        None => "(untagged)".to_owned(),
    }
}

/// `query "SELECT ..."`, cut to a readable length.
fn describe_query(sql: &str) -> String {
    let first: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = first.chars().take(60).collect();
    if cut.len() < first.len() {
        format!("query {cut:?}...")
    } else {
        format!("query {cut:?}")
    }
}
