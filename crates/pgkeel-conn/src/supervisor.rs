//! The one recovery worker of a pool. It owns the sentinel connection, publishes `Health`, and
//! walks Starting → Ready ⇄ Recovering (or Fatal): on a loss it flushes the pool, reconnects
//! with exponential backoff and jitter (a cheap probe starts the attempt as soon as the server
//! listens again, and a server that says it is starting up is asked again within
//! milliseconds), runs every reconnect hook, and only then says Ready. Signals from callers are
//! coalesced: however many ask, one worker recovers.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ::metrics::{counter, gauge, histogram};
use pgkeel_net::Database;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::backoff::{Jitter, starting_up_delay};
use crate::config::PoolConfig;
use crate::error::Error;
use crate::health::Health;
use crate::hedge;
use crate::hooks::Hook;
use crate::manager::ObservedManager;
use crate::probe;
use crate::sentinel::Sentinel;
use crate::stats::Counters;
use crate::telemetry;

/// Something the supervisor should look at.
#[derive(Debug)]
pub(crate) enum Signal {
    /// A connection failed or died; check whether the database is still reachable.
    Suspect { cause: String },
    /// Every connection is suspect (e.g. a failover made the server read-only): reconnect all.
    Flush { cause: String },
    /// Retry now (while recovering) or probe now (while ready).
    Kick,
}

pub(crate) struct Shared {
    pub(crate) config: PoolConfig,
    /// `config.connector()`: the database with the connect timeout applied.
    pub(crate) database: Database,
    pub(crate) pool: deadpool::managed::Pool<ObservedManager>,
    pub(crate) health: watch::Sender<Health>,
    pub(crate) signals: mpsc::UnboundedSender<Signal>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn timeouts(&self) -> deadpool::managed::Timeouts {
        deadpool::managed::Timeouts {
            wait: Some(self.config.acquire_timeout),
            create: Some(self.config.connect_timeout),
            recycle: Some(self.config.connect_timeout),
        }
    }

    fn set_health(&self, health: Health) {
        gauge!(telemetry::HEALTH, "pool" => self.config.name.clone()).set(health.gauge());
        self.health.send_replace(health);
    }

    /// Drops every idle pooled connection (they were opened before a loss).
    pub(crate) fn flush_idle(&self) {
        let mut flushed = 0;
        self.pool.retain(|_, _| {
            flushed += 1;
            false
        });
        if flushed > 0 {
            counter!(telemetry::DISCARDS, "pool" => self.config.name.clone(), "reason" => "flushed").increment(flushed);
        }
    }

    fn publish_pool_gauges(&self) {
        let status = self.pool.status();
        let pool = self.config.name.clone();
        gauge!(telemetry::POOL_SIZE, "pool" => pool.clone()).set(status.size as f64);
        gauge!(telemetry::POOL_IN_USE, "pool" => pool.clone())
            .set(status.size.saturating_sub(status.available) as f64);
        gauge!(telemetry::POOL_WAITING, "pool" => pool).set(status.waiting as f64);
    }
}

/// Runs until the pool is closed.
pub(crate) async fn supervise(shared: Arc<Shared>, mut signals: mpsc::UnboundedReceiver<Signal>) {
    let name = shared.config.name.clone();
    let mut jitter = Jitter::new();
    let mut epoch: u64 = 0;
    let mut lost: Option<(SystemTime, Instant, String)> = None;
    // How long the last successful connect took: a recovery attempt that takes much longer is
    // probably held by an intermediary, and gets a sibling (see `hedge.rs`).
    let mut usual_connect = Duration::ZERO;
    loop {
        let mut attempt: u32 = 0;
        let mut starting_attempt: u32 = 0;
        let sentinel = loop {
            if shared.shutdown.is_cancelled() {
                return;
            }
            while signals.try_recv().is_ok() {}
            let hedge_after = shared
                .config
                .fast_probe
                .filter(|_| lost.is_some())
                .map(|every| every.max(usual_connect * 2));
            match establish(&shared, hedge_after).await {
                Ok((sentinel, took)) => {
                    usual_connect = took;
                    break sentinel;
                }
                Err(error) if error.is_fatal() => {
                    tracing::error!(pool = %name, %error, "giving up: the error is fatal");
                    counter!(telemetry::ATTEMPT_FAILURES, "pool" => name.clone()).increment(1);
                    Counters::bump(&shared.counters.attempt_failures);
                    shared.set_health(Health::Fatal(error));
                    shared.shutdown.cancelled().await;
                    return;
                }
                Err(error) => {
                    attempt += 1;
                    counter!(telemetry::ATTEMPT_FAILURES, "pool" => name.clone()).increment(1);
                    Counters::bump(&shared.counters.attempt_failures);
                    let mut delay = shared.config.backoff.delay(attempt, jitter.next());
                    if error.is_server_starting() {
                        starting_attempt += 1;
                        delay = delay.min(starting_up_delay(starting_attempt));
                    } else {
                        starting_attempt = 0;
                    }
                    // An intermediary that answers for a stopped server answers at once:
                    // asking it again at the fast-probe cadence is the protocol-level probe
                    // (a bare TCP connect would always succeed there).
                    if let Some(every) = shared
                        .config
                        .fast_probe
                        .filter(|_| error.is_upstream_unavailable())
                    {
                        delay = delay.min(every);
                    }
                    let next_retry_at = Some(Instant::now() + delay);
                    let last_error = error.to_string();
                    tracing::warn!(
                        pool = %name, attempt, retry_in_ms = delay.as_millis() as u64, error = %last_error,
                        "connection attempt failed; retry scheduled"
                    );
                    shared.set_health(match &lost {
                        None => Health::Starting {
                            attempt,
                            next_retry_at,
                            last_error: Some(last_error),
                        },
                        Some((since, _, _)) => Health::Recovering {
                            attempt,
                            since: *since,
                            next_retry_at,
                            last_error,
                        },
                    });
                    wait_before_retry(&shared, delay, error.is_refused(), &mut signals).await;
                }
            }
        };
        epoch += 1;
        match lost.take() {
            Some((_, noticed, cause)) => {
                let took = noticed.elapsed();
                histogram!(telemetry::RECOVERY_SECONDS, "pool" => name.clone())
                    .record(took.as_secs_f64());
                counter!(telemetry::RECOVERIES, "pool" => name.clone()).increment(1);
                Counters::bump(&shared.counters.recoveries);
                tracing::info!(pool = %name, epoch, after_ms = took.as_millis() as u64, attempts = attempt + 1, lost_because = %cause, "recovered");
            }
            None => tracing::info!(pool = %name, epoch, "connected"),
        }
        shared.set_health(Health::Ready {
            epoch,
            since: SystemTime::now(),
        });
        let Some(cause) = watch_ready(&shared, sentinel, &mut signals).await else {
            return;
        };
        counter!(telemetry::LOSSES, "pool" => name.clone()).increment(1);
        Counters::bump(&shared.counters.losses);
        tracing::warn!(pool = %name, cause = %cause, "connection lost");
        let since = SystemTime::now();
        lost = Some((since, Instant::now(), cause.clone()));
        shared.flush_idle();
        shared.set_health(Health::Recovering {
            attempt: 0,
            since,
            next_retry_at: None,
            last_error: cause,
        });
    }
}

/// Connects the sentinel (hedged after `hedge_after` without an answer, see `hedge.rs`),
/// drops pooled connections from before, runs every hook. Also returns how long the
/// sentinel's connect took.
async fn establish(
    shared: &Shared,
    hedge_after: Option<Duration>,
) -> Result<(Sentinel, Duration), Error> {
    let config = &shared.config;
    let connect = || {
        Sentinel::connect(
            &shared.database,
            &config.classifier,
            config.min_server_version,
        )
    };
    let began = Instant::now();
    let sentinel = match hedge_after {
        Some(every) => hedge::first_answer(connect, every).await?,
        None => connect().await?,
    };
    let took = began.elapsed();
    shared.flush_idle();
    for hook in &shared.hooks {
        if let Err(error) = hook.run(shared).await {
            counter!(telemetry::HOOK_FAILURES, "pool" => config.name.clone(), "hook" => hook.name().to_owned()).increment(1);
            Counters::bump(&shared.counters.hook_failures);
            tracing::warn!(pool = %config.name, hook = hook.name(), %error, "reconnect hook failed");
            return Err(error);
        }
    }
    Ok((sentinel, took))
}

/// While ready: probe the sentinel, notice its end, look into signals. Returns the cause of a
/// loss, or `None` when the pool closes.
async fn watch_ready(
    shared: &Shared,
    mut sentinel: Sentinel,
    signals: &mut mpsc::UnboundedReceiver<Signal>,
) -> Option<String> {
    let config = &shared.config;
    let period = (config.keepalive / 2).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        shared.publish_pool_gauges();
        tokio::select! {
            _ = shared.shutdown.cancelled() => return None,
            cause = sentinel.ended() => return Some(cause),
            _ = tick.tick() => {
                if let Err(e) = sentinel.probe(period, &config.classifier).await {
                    return Some(e.to_string());
                }
            }
            signal = signals.recv() => {
                let mut flush = None;
                let mut why = Vec::new();
                let mut next = signal;
                while let Some(signal) = next {
                    counter!(telemetry::SIGNALS, "pool" => config.name.clone()).increment(1);
                    Counters::bump(&shared.counters.signals);
                    match signal {
                        Signal::Flush { cause } => flush = Some(cause),
                        Signal::Suspect { cause } => why.push(cause),
                        Signal::Kick => {}
                    }
                    next = signals.try_recv().ok();
                }
                if let Some(cause) = flush {
                    return Some(cause);
                }
                // One connection failing is not a loss; the database being unreachable is.
                if let Err(e) = sentinel.probe(period, &config.classifier).await {
                    let why = why.last().map(|w| format!(" (after: {w})")).unwrap_or_default();
                    return Some(format!("{e}{why}"));
                }
                if let Some(w) = why.last() {
                    tracing::debug!(pool = %config.name, cause = %w, "a connection failed but the database answers");
                }
            }
        }
    }
}

/// Waits `delay`, or less: a kick, or (when the server was refusing connections) the server
/// listening again, starts the next attempt at once.
async fn wait_before_retry(
    shared: &Shared,
    delay: Duration,
    refused: bool,
    signals: &mut mpsc::UnboundedReceiver<Signal>,
) {
    let deadline = tokio::time::Instant::now() + delay;
    let fast = shared.config.fast_probe.filter(|_| refused);
    let probe = async {
        match fast {
            Some(every) => probe::until_accepting(&shared.database, every).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(probe);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = shared.shutdown.cancelled() => return,
            signal = signals.recv() => {
                Counters::bump(&shared.counters.signals);
                match signal {
                    Some(Signal::Kick) | None => return,
                    Some(_) => {}
                }
            },
            () = &mut probe => return,
        }
    }
}
