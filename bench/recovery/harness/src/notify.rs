//! NOTIFY → handler latency: a pgkeel `Listener` and a raw tokio-postgres connection both
//! LISTEN on `bench`; a third connection sends `NOTIFY bench, '<seq>'`, one statement each,
//! with small random pauses. Latency = when the handler saw `<seq>` − when its NOTIFY was sent.

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgkeel_conn::listener::{Event, Listener, ListenerConfig};
use pgkeel_net::Database;
use serde::Serialize;
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use crate::stats::{Rng, ms_between};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Per notification (after the warm-up): latency in ms, `None` when it never arrived.
#[derive(Debug, Default, Serialize)]
pub(crate) struct NotifySamples {
    pub(crate) warmup: usize,
    pub(crate) sent: usize,
    pub(crate) pgkeel_ms: Vec<Option<f64>>,
    pub(crate) raw_ms: Vec<Option<f64>>,
    /// Pause after each NOTIFY, ms.
    pub(crate) pauses_ms: Vec<u64>,
    /// How long the whole send loop took, ms.
    pub(crate) send_loop_ms: f64,
}

type Arrivals = Arc<Mutex<Vec<Option<Instant>>>>;

fn record(arrivals: &Arrivals, payload: &str) {
    let now = Instant::now();
    if let Ok(seq) = payload.parse::<usize>() {
        let mut slots = arrivals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(seq) {
            slot.get_or_insert(now);
        }
    }
}

/// Sends `warmup + count` notifications and measures both listeners.
pub(crate) async fn run(
    url: &str,
    count: usize,
    warmup: usize,
    rng: &mut Rng,
) -> Result<NotifySamples, BoxError> {
    let total = warmup + count;
    let stop = CancellationToken::new();

    // pgkeel: the Listener with the product defaults; the handler is the consumer task.
    let config = ListenerConfig::from_url(url)?
        .channel("bench")
        .buffer(total + 16);
    let mut listener = Listener::start(config, &stop)?;
    match tokio::time::timeout(Duration::from_secs(30), listener.recv()).await {
        Ok(Ok(Event::Listening { .. })) => {}
        other => return Err(format!("the pgkeel listener did not start: {other:?}").into()),
    }
    let pgkeel_arrivals: Arrivals = Arc::new(Mutex::new(vec![None; total]));
    let slots = Arc::clone(&pgkeel_arrivals);
    let pgkeel_task = tokio::spawn(async move {
        while let Ok(event) = listener.recv().await {
            if let Event::Notification(n) = event {
                record(&slots, &n.payload);
            }
        }
    });

    // raw: one tokio-postgres connection, notifications read in the task that drives it. It
    // is the peer pgkeel is measured against, so it connects with plain tokio-postgres, not
    // with pgkeel's connector.
    let (raw, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let raw_arrivals: Arrivals = Arc::new(Mutex::new(vec![None; total]));
    let slots = Arc::clone(&raw_arrivals);
    let raw_task = tokio::spawn(async move {
        while let Some(Ok(message)) = poll_fn(|cx| connection.poll_message(cx)).await {
            if let AsyncMessage::Notification(n) = message {
                record(&slots, n.payload());
            }
        }
    });
    raw.batch_execute("LISTEN bench").await?;

    let (sender, connection) = Database::parse(url)?.connect().await?;
    tokio::spawn(connection);
    let mut sent_at = Vec::with_capacity(total);
    let mut pauses = Vec::with_capacity(total);
    let begun = Instant::now();
    for seq in 0..total {
        sent_at.push(Instant::now());
        sender
            .batch_execute(&format!("NOTIFY bench, '{seq}'"))
            .await?;
        let pause = rng.between(0, 2);
        pauses.push(pause);
        if pause > 0 {
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
    let send_loop_ms = ms_between(begun, Instant::now());

    // Wait for stragglers (up to 5 s), then stop both listeners.
    let deadline = Instant::now() + Duration::from_secs(5);
    let complete = |a: &Arrivals| {
        a.lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .all(Option::is_some)
    };
    while Instant::now() < deadline && !(complete(&pgkeel_arrivals) && complete(&raw_arrivals)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    drop(raw);
    let _ = tokio::time::timeout(Duration::from_secs(5), pgkeel_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), raw_task).await;

    let latencies = |a: &Arrivals| -> Vec<Option<f64>> {
        let a = a.lock().unwrap_or_else(|e| e.into_inner());
        (warmup..total)
            .map(|seq| a[seq].map(|t| ms_between(sent_at[seq], t)))
            .collect()
    };
    Ok(NotifySamples {
        warmup,
        sent: count,
        pgkeel_ms: latencies(&pgkeel_arrivals),
        raw_ms: latencies(&raw_arrivals),
        pauses_ms: pauses[warmup..].to_vec(),
        send_loop_ms,
    })
}
