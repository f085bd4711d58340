//! Over many random partitions nothing runs twice concurrently: workers, each behind its own
//! proxy, claim and work a few targets while one proxy at a time (preferably a busy worker's) is
//! stalled at random. Whenever a session gets a target, the session that worked on it before
//! must have stopped: finished, or expired locally — which it does before its database deadline
//! thanks to the safety margin. There are more workers than targets, so an idle worker asks for
//! the work as soon as the database lets it go; the check reads the previous holder's local
//! state at that moment, so a local deadline even a fraction of an interval later than the
//! database one makes it fail (tried: interval/4 late fails it).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pgkeel_conn::{Jitter, Pool};
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_proxy::Proxy;
use pgkeel_work::{Reaper, Session, SessionConfig};
use tokio_util::sync::CancellationToken;

use pgkeel_testkit::{LIVENESS, proxied};

use super::support::{nothing, pool_config, setup, these};

const WORKERS: usize = 4;
const TARGETS: [&str; 2] = ["a", "b"];
const PARTITIONS: usize = 22;
const INTERVAL: Duration = Duration::from_millis(800);

/// Who is working on what, as the workers themselves believe.
#[derive(Default)]
struct Registry {
    /// The session working on a target right now (registered after its claim, removed before
    /// it finishes or as soon as it sees its session expire).
    working: HashMap<String, (usize, Session)>,
    /// Targets whose last holder stopped without finishing (its session expired, or its
    /// finish failed).
    abandoned: HashSet<String>,
    violations: Vec<String>,
    /// Claims of abandoned targets.
    takeovers: usize,
    /// Times a worker saw its session expire while it worked.
    expired_while_working: usize,
    finished: usize,
    sessions: usize,
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn worker(index: usize, pool: Pool, registry: Arc<Mutex<Registry>>, stop: CancellationToken) {
    let mut jitter = Jitter::new();
    let mut current: Option<Session> = None;
    while !stop.is_cancelled() {
        let session = match current.as_ref().filter(|s| !s.expired()) {
            Some(s) => s.clone(),
            None => {
                let config = SessionConfig::new(format!("worker{index}"), INTERVAL);
                match Session::start(&pool, config).await {
                    Ok(s) => {
                        lock(&registry).sessions += 1;
                        current = Some(s.clone());
                        s
                    }
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                }
            }
        };
        let mut order = TARGETS.to_vec();
        order.sort_by_key(|_| (jitter.next() * 1000.0) as u32);
        match session.work("p", these(&order)).await {
            Ok(Some(work)) => {
                let target = work.target().to_owned();
                {
                    let mut r = lock(&registry);
                    if let Some((_, previous)) = r.working.get(&target)
                        && previous.id() != session.id()
                        && !previous.expired()
                    {
                        let message = format!(
                            "session {} got {target} while session {} still worked on it, not \
                             expired locally",
                            session.id(),
                            previous.id()
                        );
                        r.violations.push(message);
                    }
                    if r.abandoned.remove(&target) {
                        r.takeovers += 1;
                    }
                    r.working.insert(target.clone(), (index, session.clone()));
                }
                let expiry = session.expiry();
                // Often longer than the interval, so partitions catch workers at work.
                let busy = INTERVAL.mul_f64(0.05 + 1.5 * jitter.next());
                let expired = tokio::select! {
                    _ = tokio::time::sleep(busy) => false,
                    _ = expiry.cancelled() => true,
                };
                {
                    let mut r = lock(&registry);
                    if r.working
                        .get(&target)
                        .is_some_and(|(_, s)| s.id() == session.id())
                    {
                        r.working.remove(&target);
                        if expired {
                            r.abandoned.insert(target.clone());
                            r.expired_while_working += 1;
                        }
                    }
                }
                if expired {
                    continue;
                }
                let finished = work.finish(nothing).await;
                let mut r = lock(&registry);
                match finished {
                    Ok(()) => r.finished += 1,
                    Err(e) => {
                        r.abandoned.insert(target);
                        // Unsure whether it committed: give the session up; it runs out and
                        // its work (if still held) is freed.
                        if !e.is_not_owner() {
                            current = None;
                        }
                    }
                }
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) if e.is_work_conflict() => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Expired, or unsure whether the claim committed: a new session.
            Err(_) => current = None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_random_partitions_no_target_is_worked_twice_at_once() {
    let db = TestDatabase::new();
    let (direct_pool, _client) = setup(&db).await;
    let reaper = Reaper::start(&direct_pool, Duration::from_millis(200), INTERVAL, None).unwrap();
    let registry = Arc::new(Mutex::new(Registry::default()));
    let stop = CancellationToken::new();
    let mut proxies: Vec<Proxy> = Vec::new();
    let mut workers = Vec::new();
    for index in 0..WORKERS {
        let (proxy, url) = proxied(&db).await;
        let pool = Pool::start(pool_config(&url)).unwrap();
        pool.ready(LIVENESS).await.unwrap();
        proxies.push(proxy);
        workers.push(tokio::spawn(worker(
            index,
            pool,
            Arc::clone(&registry),
            stop.clone(),
        )));
    }

    let mut jitter = Jitter::new();
    for _ in 0..PARTITIONS {
        // A random worker, preferably one at work (that is when a partition matters most).
        let busy: Vec<usize> = lock(&registry).working.values().map(|(i, _)| *i).collect();
        let pick = |n: usize, r: f64| ((r * n as f64) as usize).min(n - 1);
        let victim = if busy.is_empty() {
            pick(WORKERS, jitter.next())
        } else {
            busy[pick(busy.len(), jitter.next())]
        };
        let stall = INTERVAL.mul_f64(0.2 + 1.8 * jitter.next());
        proxies[victim].set_rules("conn.stall()").unwrap();
        tokio::time::sleep(stall).await;
        proxies[victim].set_rules("").unwrap();
        tokio::time::sleep(Duration::from_millis(100 + (jitter.next() * 500.0) as u64)).await;
    }
    stop.cancel();
    for w in workers {
        tokio::time::timeout(LIVENESS, w)
            .await
            .expect("a worker did not stop")
            .unwrap();
    }
    reaper.stop().await;

    let r = lock(&registry);
    println!(
        "{} finished, {} expired while working, {} takeovers, {} sessions",
        r.finished, r.expired_while_working, r.takeovers, r.sessions
    );
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    // The scenario happened: owners expired at work, work moved on from them, work got done.
    assert!(
        r.expired_while_working >= 1,
        "no session ever expired while working"
    );
    assert!(
        r.takeovers >= 1,
        "no work was ever taken over after its owner stopped"
    );
    assert!(r.sessions > WORKERS, "no session ever expired");
    assert!(
        r.finished >= WORKERS,
        "too little work got done: {}",
        r.finished
    );
}
