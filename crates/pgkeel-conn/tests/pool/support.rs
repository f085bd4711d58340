//! Helpers for pool tests: waiting for a health state.

use pgkeel_conn::{Health, Pool};
use pgkeel_testkit::within;

/// Waits until `pred` holds for the pool's health; returns that health.
pub(crate) async fn until_health(
    pool: &Pool,
    what: &str,
    pred: impl Fn(&Health) -> bool,
) -> Health {
    let mut rx = pool.subscribe();
    let wait = async {
        loop {
            let health = rx.borrow_and_update().clone();
            if pred(&health) {
                return health;
            }
            rx.changed().await.unwrap();
        }
    };
    within(
        &format!("the pool became {what} (now {:?})", pool.health()),
        wait,
    )
    .await
}
