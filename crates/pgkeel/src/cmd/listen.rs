//! `pgkeel listen`: LISTEN on channels and print one JSON object per event on stdout —
//! notifications, every (re)start of listening, and gaps where notifications may have been
//! missed. Reconnects by itself; runs until SIGINT/SIGTERM; exits 1 on a fatal error.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use pgkeel_conn::PoolConfig;
use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::args::{ConnectionArgs, DatabaseArgs};
use crate::time_format::rfc3339;

/// LISTEN on channels and print every notification, and every gap, as a JSON line.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "LISTEN on one or more channels and print every event as one JSON object per \
        line on stdout.\n\n\
        The listener has a connection of its own. It notices when that connection is lost — \
        closed (server restart, terminated backend) or silent for longer than --keepalive (a \
        stalled network) — reconnects with exponential backoff and jitter, and listens again. \
        Notifications sent while it was not listening are gone for good, so it then prints a \
        gap line: treat it as \"anything may have changed\" and reload whatever the \
        notifications stand for. A wrong password or a missing database stops it with exit \
        code 1 instead of retrying forever.\n\n\
        Lines on stdout (times in RFC 3339, UTC):\n  \
        {\"event\":\"listening\",\"epoch\":1,\"at\":...}   LISTEN in force; epoch 2, 3, ... after each reconnect\n  \
        {\"event\":\"notification\",\"channel\":\"jobs\",\"payload\":\"42\",\"pid\":1234,\"at\":...}\n  \
        {\"event\":\"gap\",\"lost_at\":...,\"relistened_at\":...,\"dropped\":0,\"reconnected\":true}\n  \
        {\"event\":\"deaf\",\"since\":...,\"reason\":\"...\",\"hint\":\"...\"}   notifications are not delivered\n\n\
        listening is printed only once delivery was verified: the listener sends itself a \
        notification on a private channel (pgkeel_probe_...) through a second connection and \
        waits for it, and repeats that every --keepalive. When it does not come back within \
        --keepalive (behind pgbouncer with pool_mode = transaction LISTEN \"succeeds\" and \
        nothing is ever delivered), a deaf line says so — within two keepalives of delivery \
        stopping — and the listener keeps reconnecting and probing; when delivery works again, \
        listening and a gap line follow.\n\n\
        A gap covers notifications sent between lost_at and relistened_at. If stdout is slower \
        than the notifications, up to --buffer events wait; beyond that notifications are \
        dropped and a gap line counts them in \"dropped\" (memory stays bounded). Logs — \
        connection lost and why, retry scheduled and its delay, relistening — go to stderr. \
        Runs until Ctrl-C or SIGTERM.",
    after_help = "Examples:\n  \
        pgkeel listen --database-url postgres://app:secret@127.0.0.1:5432/app jobs\n  \
        DATABASE_URL=postgres://app@127.0.0.1/app pgkeel listen jobs 'Mixed Case'\n  \
        pgkeel listen jobs | jq -c 'select(.event == \"gap\")'    # only the gaps\n  \
        psql \"$DATABASE_URL\" -c \"NOTIFY jobs, 'hello'\"          # in another shell"
)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    db: DatabaseArgs,

    /// Channels to LISTEN to (exact names: case and spaces are kept).
    #[arg(value_name = "CHANNEL", required = true)]
    channels: Vec<String>,

    /// Events held while stdout is slow; beyond that notifications are dropped and reported in
    /// a gap line.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    buffer: usize,

    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn run(args: ListenArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let mut config = ListenerConfig::new(PoolConfig::new(args.db.database));
    config.connection.name = "listen".to_owned();
    args.connection
        .apply(&mut config.connection, "pgkeel listen");
    let config = config.channels(args.channels).buffer(args.buffer);
    // The message of a listener error names what failed, why and what to do; it is not
    // repeated as a chain of causes.
    let mut listener = match Listener::start(config, &shutdown) {
        Ok(listener) => listener,
        Err(e) => bail!("{e}"),
    };
    let mut stdout = Lines::spawn();
    loop {
        let event = match listener.recv().await {
            Ok(event) => event,
            Err(e) if e.is_stopped() => break,
            Err(e) => bail!("{e}"),
        };
        let line = json_line(&event);
        tokio::select! {
            () = shutdown.cancelled() => break,
            written = stdout.write(line) => if !written {
                return stdout.outcome();
            },
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A line of output; `event` comes first, the fields in this order.
#[derive(serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line<'a> {
    Listening {
        epoch: u64,
        at: String,
    },
    Notification {
        channel: &'a str,
        payload: &'a str,
        pid: i32,
        at: String,
    },
    Gap {
        lost_at: String,
        relistened_at: String,
        dropped: u64,
        reconnected: bool,
    },
    Deaf {
        since: String,
        reason: &'a str,
        hint: &'a str,
    },
}

/// One event as a JSON line.
fn json_line(event: &Event) -> String {
    let line = match event {
        Event::Listening { epoch, at } => Line::Listening {
            epoch: *epoch,
            at: rfc3339(*at),
        },
        Event::Notification(n) => Line::Notification {
            channel: &n.channel,
            payload: &n.payload,
            pid: n.pid,
            at: rfc3339(n.at),
        },
        Event::Gap {
            lost_at,
            relistened_at,
            dropped,
            reconnected,
        } => Line::Gap {
            lost_at: rfc3339(*lost_at),
            relistened_at: rfc3339(*relistened_at),
            dropped: *dropped,
            reconnected: *reconnected,
        },
        Event::Deaf {
            since,
            reason,
            hint,
        } => Line::Deaf {
            since: rfc3339(*since),
            reason,
            hint,
        },
    };
    // Serializing strings and numbers cannot fail; an empty object would still be a line.
    let mut text = serde_json::to_string(&line).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}

/// Lines written to stdout, each flushed, by a thread of its own: a blocked stdout (a full
/// pipe) holds up neither the runtime nor the exit on SIGTERM, and the listener's bounded
/// buffer, not this queue, absorbs the backlog.
struct Lines {
    tx: mpsc::Sender<String>,
    failure: Arc<Mutex<Option<std::io::Error>>>,
}

impl Lines {
    fn spawn() -> Self {
        let (tx, mut rx) = mpsc::channel::<String>(1);
        let failure = Arc::new(Mutex::new(None));
        let failed = Arc::clone(&failure);
        std::thread::spawn(move || {
            let mut out = std::io::stdout();
            while let Some(line) = rx.blocking_recv() {
                if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                    *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    return;
                }
            }
        });
        Lines { tx, failure }
    }

    /// Queues a line; false when stdout can no longer be written.
    async fn write(&mut self, line: String) -> bool {
        self.tx.send(line).await.is_ok()
    }

    /// Why writing stopped: a closed pipe (`pgkeel listen | head -3`) ends quietly.
    fn outcome(&self) -> anyhow::Result<ExitCode> {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match failure {
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            Some(e) => Err(e).context("cannot write to stdout"),
            None => bail!("cannot write to stdout: the writer stopped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use pgkeel_conn::listener::Notification;

    use super::*;

    #[test]
    fn events_become_json_lines() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line = json_line(&Event::Notification(Notification {
            channel: "jobs".into(),
            payload: "say \"hi\"".into(),
            pid: 42,
            at,
        }));
        assert_eq!(
            line,
            "{\"event\":\"notification\",\"channel\":\"jobs\",\"payload\":\"say \\\"hi\\\"\",\
             \"pid\":42,\"at\":\"2023-11-14T22:13:20.123Z\"}\n"
        );
        let gap: serde_json::Value = serde_json::from_str(&json_line(&Event::Gap {
            lost_at: at,
            relistened_at: at,
            dropped: 3,
            reconnected: false,
        }))
        .unwrap_or_default();
        assert_eq!(gap["event"], "gap");
        assert_eq!(gap["dropped"], 3);
        assert_eq!(gap["lost_at"], "2023-11-14T22:13:20.123Z");
    }
}
