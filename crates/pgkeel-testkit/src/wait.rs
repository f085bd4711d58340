//! Waiting for another task to get somewhere: poll an observable condition, bounded by a
//! liveness guard so a test that breaks fails with a message instead of hanging.

use std::future::Future;
use std::time::Duration;

/// Bounded waits in tests are liveness guards, never speed checks.
pub const LIVENESS: Duration = Duration::from_secs(60);

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);

/// Waits until the async `cond` holds, polling every 10 ms.
///
/// # Panics
/// When it does not hold within [`LIVENESS`]; the message names `what`.
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + LIVENESS;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened within {LIVENESS:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the plain `pred` holds, polling every 10 ms.
///
/// # Panics
/// When it does not hold within [`LIVENESS`]; the message names `what`.
pub async fn until(what: &str, mut pred: impl FnMut() -> bool) {
    eventually(what, || std::future::ready(pred())).await;
}

/// Runs `future` to its end.
///
/// # Panics
/// When it takes longer than [`LIVENESS`]; the message names `what`.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(LIVENESS, future).await {
        Ok(value) => value,
        Err(_) => panic!("did not finish within {LIVENESS:?}: {what}"),
    }
}
