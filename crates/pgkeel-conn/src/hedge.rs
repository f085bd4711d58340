//! Hedged connection attempts behind an intermediary. HAProxy (with its default `retries 3`
//! and a turn-around of up to a second between them) or a cloud load balancer can hold one
//! attempt for seconds while the server is down, and then the server comes back while pgkeel
//! waits for that one answer. Once an attempt has been answered "the server behind me is down",
//! the next attempts are hedged: if one has no answer after `every`, another starts, up to a
//! few in flight; the first answer wins and the others are dropped (their connections closed).
//! A quick refusal from one of them ends the round too: the caller then retries at its
//! fast-probe cadence with fresh attempts instead of waiting for the one being held.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

/// At most this many attempts in flight at once.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

/// Runs `start()`, and another every `every` while none has answered, up to
/// [`MAX_IN_FLIGHT`]; returns the first answer (success or error).
pub(crate) async fn first_answer<T, E, Fut>(
    mut start: impl FnMut() -> Fut,
    every: Duration,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut pending = FuturesUnordered::new();
    pending.push(start());
    let mut hedge = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            Some(result) = pending.next() => return result,
            _ = hedge.tick(), if pending.len() < MAX_IN_FLIGHT => pending.push(start()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_held_attempt_is_overtaken_by_a_later_one() {
        let started = AtomicU32::new(0);
        // The first attempt is held for 10 s (an intermediary retrying); later ones answer.
        let result: Result<u32, ()> = first_answer(
            || {
                let n = started.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    }
                    Ok(n)
                }
            },
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(result, Ok(1));
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_answer_wins_and_never_more_than_the_cap_start() {
        let started = AtomicU32::new(0);
        let result: Result<(), u32> = first_answer(
            || {
                let n = started.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Err(n)
                }
            },
            Duration::from_millis(50),
        )
        .await;
        assert_eq!(started.load(Ordering::SeqCst) as usize, MAX_IN_FLIGHT);
        assert_eq!(result, Err(0));
    }
}
