//! Sinks: the file holds every line after deliver, the HTTP sink retries until the receiver
//! accepts and stops (not durable) on cancellation, the channel sink waits for the ack.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use pgkeel_stream::sink_from_spec as from_spec;
use pgkeel_stream::{
    Backoff, Batch, ChannelSink, Event, FileSink, HttpSink, Lsn, Op, Position, Row, Sink,
};
use pgkeel_testkit::{LIVENESS, until, within};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const FAST: Backoff = Backoff {
    base: Duration::from_millis(1),
    cap: Duration::from_millis(5),
    jitter: 0.0,
};

fn batch(commit: u64, rows: u32) -> Batch {
    let events = (0..rows)
        .map(|ordinal| {
            let mut event = Event::new(
                Lsn(commit),
                Lsn(commit - 100 + u64::from(ordinal)),
                ordinal,
                Op::Insert,
            );
            event.xid = Some(700);
            event.commit_time = Some("2026-11-22T10:00:00.123456Z".to_owned());
            event.schema = Some("public".to_owned());
            event.table = Some("items".to_owned());
            let mut row = Row::new();
            row.insert("id".to_owned(), json!(ordinal));
            row.insert("name".to_owned(), json!(format!("item \"{ordinal}\"\n")));
            event.new = Some(row);
            event
        })
        .collect();
    Batch {
        events,
        end_lsn: Lsn(commit + 1),
    }
}

/// A path in a fresh directory under the system temp dir.
fn scratch_file(name: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pgkeel-sinks-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test]
async fn file_sink_appends_whole_batches_that_are_there_after_deliver() {
    let path = scratch_file("events.jsonl");
    let (first, second) = (batch(0x1000, 3), batch(0x2000, 2));
    let mut sink = from_spec(
        &format!("file:{}", path.display()),
        CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(sink.describe(), format!("file {}", path.display()));
    sink.deliver(&first).await.unwrap();
    sink.deliver(&second).await.unwrap();
    // A new sink on the same file appends (at least once: a repeat is allowed).
    let mut again = FileSink::open(&path).unwrap();
    again.deliver(&second).await.unwrap();
    // A batch without events writes nothing.
    let empty = Batch {
        events: Vec::new(),
        end_lsn: Lsn(0x3000),
    };
    again.deliver(&empty).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(text.ends_with('\n'));
    assert_eq!(lines.len(), 7);
    let expected: Vec<Value> = [&first, &second, &second]
        .iter()
        .flat_map(|b| b.events.iter().map(|e| serde_json::to_value(e).unwrap()))
        .collect();
    assert_eq!(lines, expected);
    assert_eq!(lines[3]["commit_lsn"], json!("0/2000"));
    assert_eq!(lines[4]["new"]["name"], json!("item \"1\"\n"));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn file_sink_cuts_off_a_torn_last_line_before_appending() {
    let path = scratch_file("torn.jsonl");
    let first = batch(0x1000, 2);
    FileSink::open(&path)
        .unwrap()
        .deliver(&first)
        .await
        .unwrap();
    // A process killed half-way through a write leaves a line without its newline.
    let whole = std::fs::read(&path).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"commit_lsn":"0/2000","ordi"#);
    std::fs::write(&path, &torn).unwrap();

    let second = batch(0x3000, 1);
    FileSink::open(&path)
        .unwrap()
        .deliver(&second)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[2]["commit_lsn"], json!("0/3000"));
    assert!(text.starts_with(std::str::from_utf8(&whole).unwrap()));

    // A file of one torn line is emptied; a whole file is left alone.
    std::fs::write(&path, b"{\"partial").unwrap();
    FileSink::open(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    std::fs::write(&path, &whole).unwrap();
    FileSink::open(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), whole);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[tokio::test]
async fn file_sink_knows_the_last_event_it_holds() {
    let path = scratch_file("position.jsonl");
    let sink = FileSink::open(&path).unwrap();
    assert_eq!(sink.position(), None, "a new file holds nothing");
    drop(sink);
    let mut sink = FileSink::open(&path).unwrap();
    sink.deliver(&batch(0x1000, 2)).await.unwrap();
    sink.deliver(&batch(0x3000, 3)).await.unwrap();
    drop(sink);
    let held = FileSink::open(&path).unwrap().position();
    assert_eq!(
        held,
        Some(Position {
            commit_lsn: Lsn(0x3000),
            ordinal: 2
        })
    );
    // A torn last line is cut first, so the position is the last whole event.
    let mut torn = std::fs::read(&path).unwrap();
    torn.extend_from_slice(br#"{"commit_lsn":"0/9000","ordinal":0,"#);
    std::fs::write(&path, &torn).unwrap();
    assert_eq!(FileSink::open(&path).unwrap().position(), held);
    // A last line that is not an event of ours: nothing is skipped.
    std::fs::write(&path, b"not json\n").unwrap();
    assert_eq!(FileSink::open(&path).unwrap().position(), None);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn file_sink_in_a_missing_directory_names_the_path() {
    let path = std::env::temp_dir().join("pgkeel-no-such-dir-for-sinks/events.jsonl");
    let error = FileSink::open(&path).unwrap_err();
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert_eq!(
        error.io_kind(),
        Some(std::io::ErrorKind::NotFound),
        "{error}"
    );
    assert!(!error.is_cancelled() && !error.is_invalid_spec());
}

#[tokio::test]
async fn file_sink_reports_a_full_disk_with_the_path() {
    // Every write to /dev/full fails with ENOSPC.
    let mut sink = FileSink::open("/dev/full").unwrap();
    let error = sink.deliver(&batch(0x1000, 1)).await.unwrap_err();
    assert_eq!(
        error.io_kind(),
        Some(std::io::ErrorKind::StorageFull),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("/dev/full") && message.contains("No space left"),
        "{message}"
    );
}

/// What the test server saw: every request body and content type.
#[derive(Default)]
struct Seen {
    requests: AtomicU32,
    bodies: Mutex<Vec<(Option<String>, Bytes)>>,
}

/// A server on 127.0.0.1:0 whose handler decides the status from the request number (from 1)
/// and may stall; returns its URL.
async fn server<F>(seen: Arc<Seen>, answer: F) -> String
where
    F: Fn(u32) -> (StatusCode, bool) + Clone + Send + Sync + 'static,
{
    let handler = move |State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes| {
        let answer = answer.clone();
        async move {
            let n = seen.requests.fetch_add(1, Ordering::SeqCst) + 1;
            let (status, stall) = answer(n);
            if stall {
                tokio::time::sleep(LIVENESS).await;
            }
            let content_type = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            seen.bodies.lock().unwrap().push((content_type, body));
            (status, "try again")
        }
    };
    let app = Router::new()
        .route("/events", post(handler))
        .with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/events")
}

#[tokio::test]
async fn http_sink_retries_until_the_receiver_accepts_the_batch_as_a_json_array() {
    let seen = Arc::new(Seen::default());
    let url = server(Arc::clone(&seen), |n| {
        let status = if n <= 3 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        };
        (status, false)
    })
    .await;
    let mut sink = HttpSink::new(&url, CancellationToken::new())
        .unwrap()
        .with_backoff(FAST);
    assert_eq!(sink.describe(), format!("http {url}"));
    let batch = batch(0x3000, 4);
    within("the delivery", sink.deliver(&batch)).await.unwrap();

    assert_eq!(seen.requests.load(Ordering::SeqCst), 4);
    let bodies = seen.bodies.lock().unwrap();
    let expected = serde_json::to_value(&batch.events).unwrap();
    assert_eq!(bodies.len(), 4);
    for (content_type, body) in bodies.iter() {
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let sent: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sent, expected);
        assert_eq!(sent.as_array().unwrap().len(), 4);
    }
}

#[tokio::test]
async fn http_sink_retries_a_request_that_times_out() {
    let seen = Arc::new(Seen::default());
    // The first request gets no answer until long after the sink's timeout.
    let url = server(Arc::clone(&seen), |n| (StatusCode::OK, n == 1)).await;
    let mut sink = HttpSink::new(&url, CancellationToken::new())
        .unwrap()
        .with_backoff(FAST)
        .with_timeout(Duration::from_millis(200));
    within(
        "the delivery before the stalled answer",
        sink.deliver(&batch(0x4000, 1)),
    )
    .await
    .unwrap();
    assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn http_sink_stops_not_durable_when_cancelled() {
    let seen = Arc::new(Seen::default());
    let cancel = CancellationToken::new();
    let on_third = cancel.clone();
    // Always fails; shutdown begins while the third request is answered.
    let url = server(Arc::clone(&seen), move |n| {
        if n == 3 {
            on_third.cancel();
        }
        (StatusCode::SERVICE_UNAVAILABLE, false)
    })
    .await;
    let mut sink = HttpSink::new(&url, cancel).unwrap().with_backoff(FAST);
    let error = within("the cancelled delivery", sink.deliver(&batch(0x5000, 1)))
        .await
        .unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert!(error.to_string().contains("503"), "{error}");
    assert!(seen.requests.load(Ordering::SeqCst) >= 3);

    // Nothing listens: connection errors are retried too, until cancelled.
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/events", unused.local_addr().unwrap());
    drop(unused);
    let cancel = CancellationToken::new();
    let mut sink = HttpSink::new(&closed_url, cancel.clone())
        .unwrap()
        .with_backoff(FAST);
    // Cancel only once the sink has failed to connect and logged that it retries.
    let log = Log::capture();
    let delivery = tokio::spawn(async move { sink.deliver(&batch(0x6000, 1)).await });
    until("the sink logs a retry after a refused connection", || {
        log.contains("cannot deliver the batch; retrying")
    })
    .await;
    cancel.cancel();
    let error = within("the cancelled delivery", delivery)
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.is_cancelled(), "{error}");
    assert!(error.to_string().contains("failed attempts"), "{error}");
}

/// The log lines of this thread while the value lives (a `#[tokio::test]` runs its tasks on
/// the test's thread), so a test can wait for what the code under test logs.
struct Log {
    lines: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Log {
    fn capture() -> Self {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&sink)))
            .finish();
        Log {
            lines,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    fn contains(&self, text: &str) -> bool {
        String::from_utf8_lossy(&self.lines.lock().unwrap()).contains(text)
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn channel_sink_is_durable_only_when_acknowledged() {
    let (mut sink, mut receiver) = ChannelSink::new(1);
    let sent = batch(0x7000, 2);
    let consumer = tokio::spawn(async move {
        let delivery = receiver.recv().await.unwrap();
        let got = delivery.batch.clone();
        delivery.ack();
        // The second is dropped without an ack.
        let unacknowledged = receiver.recv().await.unwrap();
        drop(unacknowledged);
        (got, receiver)
    });
    sink.deliver(&sent).await.unwrap();
    let error = sink.deliver(&sent).await.unwrap_err();
    assert!(error.is_closed() && !error.is_cancelled(), "{error}");
    let (got, receiver) = consumer.await.unwrap();
    assert_eq!(*got, sent);

    drop(receiver);
    let error = sink.deliver(&sent).await.unwrap_err();
    assert!(error.is_closed(), "{error}");
    assert!(error.to_string().contains("receiver"), "{error}");
}

#[test]
fn specs_name_a_sink_or_explain_the_forms() {
    let cancel = CancellationToken::new();
    assert_eq!(
        from_spec("stdout", cancel.clone()).unwrap().describe(),
        "stdout"
    );
    assert_eq!(
        from_spec("http://127.0.0.1:9/in", cancel.clone())
            .unwrap()
            .describe(),
        "http http://127.0.0.1:9/in"
    );
    let https = from_spec("https://example.com/in", cancel.clone())
        .err()
        .unwrap();
    assert!(
        https.is_invalid_spec() && https.to_string().contains("TLS"),
        "{https}"
    );
    for bad in [
        "",
        "stdin",
        "ftp://host/x",
        "file:",
        "http://",
        "kafka:topic",
    ] {
        let error = from_spec(bad, cancel.clone()).err().unwrap();
        assert!(error.is_invalid_spec(), "{bad}: {error}");
    }
    let unknown = from_spec("kafka:topic", cancel).err().unwrap().to_string();
    for form in ["stdout", "file:PATH", "http://"] {
        assert!(unknown.contains(form), "{unknown}");
    }
}
