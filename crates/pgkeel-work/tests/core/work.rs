//! Exclusive work: conflicts, eligibility, backoff after failure, history, stale owners.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_work::WorkBackoff;
use pgkeel_work::history::{self, Event};

use pgkeel_testkit::eventually;

use super::support::{expire_in_db, history_events, nothing, session, setup, these, work_rows};

const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_second_session_gets_a_conflict_and_another_process_is_free() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let a = session(&pool, "a", LONG).await;
    let b = session(&pool, "b", LONG).await;
    let held = a.work("p", these(&["t1"])).await.unwrap().unwrap();
    assert_eq!((held.target(), held.process()), ("t1", "p"));

    let err = b.work("p", these(&["t1"])).await.unwrap_err();
    assert!(err.is_work_conflict(), "{err}");
    // The session itself cannot take the same work twice either.
    assert!(
        a.work("p", these(&["t1"]))
            .await
            .unwrap_err()
            .is_work_conflict()
    );
    // Another process on the same target is other work.
    let other = b.work("q", these(&["t1"])).await.unwrap().unwrap();
    assert_eq!(other.process(), "q");
    // The first eligible candidate is taken.
    let next = b
        .work("p", these(&["t1", "t2", "t3"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.target(), "t2");
    // No candidates: nothing to do, not an error.
    assert!(b.work("p", these(&[])).await.unwrap().is_none());

    held.finish(nothing).await.unwrap();
    let taken = b.work("p", these(&["t1"])).await.unwrap().unwrap();
    assert_eq!(taken.target(), "t1");
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(b.id(), "t1".to_owned()), (b.id(), "t2".to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_take_each_target_exactly_once() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let mut sessions = Vec::new();
    for i in 0..8 {
        sessions.push(session(&pool, &format!("s{i}"), LONG).await);
    }
    let targets = ["t1", "t2", "t3", "t4"];
    let claims = sessions.iter().map(|s| {
        let s = s.clone();
        tokio::spawn(async move { s.work("p", these(&targets)).await })
    });
    let mut got = Vec::new();
    let mut conflicts = 0;
    for claim in claims {
        match claim.await.unwrap() {
            Ok(Some(work)) => got.push(work.target().to_owned()),
            Ok(None) => panic!("candidates were there"),
            Err(e) if e.is_work_conflict() => conflicts += 1,
            Err(e) => panic!("{e}"),
        }
    }
    got.sort();
    assert_eq!(got, targets);
    assert_eq!(conflicts, 4);
    assert_eq!(work_rows(&client, "p").await.len(), 4);
}

async fn backoff_row(
    client: &tokio_postgres::Client,
    target: &str,
) -> Option<(String, SystemTime, i64)> {
    client
        .query_opt(
            "SELECT cause, until, last_interval_s FROM pgkeel_work.backoffs \
             WHERE target = $1 AND process = 'p'",
            &[&target],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

#[tokio::test]
async fn a_failure_backs_off_until_its_deadline_and_finish_clears_it() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let s = session(&pool, "w", LONG).await;
    let backoff = WorkBackoff::new(Duration::from_secs(1), Duration::from_secs(60), 2.0);

    let mut intervals = Vec::new();
    for round in 1..=2 {
        let work = s.work("p", these(&["t"])).await.unwrap().unwrap();
        work.fail(Some(&backoff), &format!("boom {round}"))
            .await
            .unwrap();
        let (cause, until, interval) = backoff_row(&client, "t").await.unwrap();
        assert_eq!(cause, format!("boom {round}"));
        intervals.push(interval);
        // Ineligible while backing off: nothing to do, which is not a conflict.
        assert!(s.work("p", these(&["t"])).await.unwrap().is_none());
        // Eligible again once `until` passed.
        let claimed = Mutex::new(None);
        eventually("eligible again", || async {
            let work = s.work("p", these(&["t"])).await.unwrap();
            let found = work.is_some();
            *claimed.lock().unwrap() = work;
            found
        })
        .await;
        let claimed = claimed.into_inner().unwrap().unwrap();
        let started = history::list(&pool, "t", Some("p")).await.unwrap();
        let last = started.last().unwrap();
        assert_eq!(last.event, Event::Started);
        assert!(last.at >= until, "claimed before the backoff ended");
        if round == 1 {
            claimed.cancel().await.unwrap();
            // Cancel keeps the backoff (and its persisted interval).
            assert_eq!(backoff_row(&client, "t").await.unwrap().2, 1);
        } else {
            claimed.finish(nothing).await.unwrap();
        }
    }
    assert_eq!(
        intervals,
        vec![1, 2],
        "the interval doubles from the persisted one"
    );
    assert!(
        backoff_row(&client, "t").await.is_none(),
        "finish clears the backoff"
    );

    // A failure without backoff leaves the target eligible at once.
    let work = s.work("p", these(&["t"])).await.unwrap().unwrap();
    work.fail(None, "no backoff").await.unwrap();
    assert!(backoff_row(&client, "t").await.is_none());
    assert!(s.work("p", these(&["t"])).await.unwrap().is_some());
}

#[tokio::test]
async fn history_records_every_event_with_its_session_and_cause() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    let a = session(&pool, "a", LONG).await;
    let b = session(&pool, "b", LONG).await;
    a.work("p", these(&["t"]))
        .await
        .unwrap()
        .unwrap()
        .cancel()
        .await
        .unwrap();
    b.work("p", these(&["t"]))
        .await
        .unwrap()
        .unwrap()
        .fail(None, "disk on fire")
        .await
        .unwrap();
    a.work("p", these(&["t"]))
        .await
        .unwrap()
        .unwrap()
        .finish(nothing)
        .await
        .unwrap();
    // Other targets and processes are not in this target's history.
    b.work("q", these(&["t"])).await.unwrap().unwrap();
    b.work("p", these(&["u"])).await.unwrap().unwrap();

    let entries = history::list(&pool, "t", Some("p")).await.unwrap();
    let seen: Vec<(Event, Option<i64>, Option<&str>)> = entries
        .iter()
        .map(|e| (e.event, e.session_id, e.cause.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (Event::Started, Some(a.id()), None),
            (Event::Canceled, Some(a.id()), None),
            (Event::Started, Some(b.id()), None),
            (Event::Failed, Some(b.id()), Some("disk on fire")),
            (Event::Started, Some(a.id()), None),
            (Event::Finished, Some(a.id()), None),
        ]
    );
    assert!(entries.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(history::list(&pool, "t", None).await.unwrap().len(), 7);
    // History outlives the sessions.
    a.close().await.unwrap();
    b.close().await.unwrap();
    assert_eq!(history::list(&pool, "t", Some("p")).await.unwrap().len(), 6);
    let _ = client;
}

#[tokio::test]
async fn a_stale_owner_is_rejected_after_its_session_expired_and_another_took_the_work() {
    let db = TestDatabase::new();
    let (pool, client) = setup(&db).await;
    client
        .batch_execute("CREATE TABLE done (by bigint)")
        .await
        .unwrap();
    let a = session(&pool, "a", LONG).await;
    let b = session(&pool, "b", LONG).await;
    let stale = a.work("p", these(&["t"])).await.unwrap().unwrap();
    // While A is alive, the work is A's.
    assert!(
        b.work("p", these(&["t"]))
            .await
            .unwrap_err()
            .is_work_conflict()
    );
    // A's session ends in the database (A has not noticed): its work is free.
    expire_in_db(&client, &a).await;
    let fresh = b.work("p", these(&["t"])).await.unwrap().unwrap();
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(b.id(), "t".to_owned())]
    );

    let a_id = a.id();
    let err = stale
        .finish(|tx| async move { tx.execute("INSERT INTO done VALUES ($1)", &[&a_id]).await })
        .await
        .unwrap_err();
    assert!(err.is_not_owner(), "{err}");
    assert!(err.is_session_expired(), "{err}");
    assert!(stale.cancel().await.unwrap_err().is_not_owner());
    assert!(
        stale
            .fail(Some(&WorkBackoff::default()), "late")
            .await
            .unwrap_err()
            .is_not_owner()
    );
    // Nothing of A's was written; B's work is intact and B finishes it.
    assert_eq!(
        work_rows(&client, "p").await,
        vec![(b.id(), "t".to_owned())]
    );
    let b_id = b.id();
    fresh
        .finish(|tx| async move { tx.execute("INSERT INTO done VALUES ($1)", &[&b_id]).await })
        .await
        .unwrap();
    let done: Vec<i64> = client
        .query("SELECT by FROM done", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(done, vec![b.id()]);
    assert_eq!(
        history_events(&pool, "t", "p").await,
        vec![
            (Event::Started, Some(a.id())),
            (Event::Started, Some(b.id())),
            (Event::Finished, Some(b.id())),
        ]
    );
    assert!(backoff_row(&client, "t").await.is_none());
}

#[tokio::test]
async fn finishing_twice_is_rejected_for_a_live_session() {
    let db = TestDatabase::new();
    let (pool, _client) = setup(&db).await;
    let s = session(&pool, "twice", LONG).await;
    let work = s.work("p", these(&["t"])).await.unwrap().unwrap();
    work.finish(nothing).await.unwrap();
    let err = work.finish(nothing).await.unwrap_err();
    assert!(err.is_not_owner(), "{err}");
    assert!(!err.is_session_expired(), "{err}");
    assert!(!s.expired());
}
