//! Two service instances keeping one config cache in sync, as `pgkeel serve` instances would:
//! each on its own recovering pool through the proxy, reloading on a NOTIFY hint, after a
//! listener gap, and when the fallback poll sees a newer version.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgkeel_conn::cache_sync::{CacheSync, CacheSyncConfig};
use pgkeel_conn::{HookError, Pool, PoolConfig, Wait};

use super::setup::CACHE;

/// The config as one instance holds it.
pub(super) type Config = BTreeMap<String, String>;

/// One instance: its pool, its cache and what it loaded.
pub(super) struct CacheInstance {
    pub(super) name: &'static str,
    pub(super) pool: Pool,
    sync: CacheSync,
    contents: Arc<Mutex<Config>>,
    /// When each version was loaded, in order.
    loaded_at: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl CacheInstance {
    pub(super) fn start(name: &'static str, url: &str) -> anyhow::Result<CacheInstance> {
        let mut config = PoolConfig::from_url(url).map_err(|e| anyhow::anyhow!("{e}"))?;
        config.name = name.to_owned();
        config.max_size = 4;
        config.keepalive = Duration::from_secs(2);
        let pool = Pool::start(config).map_err(|e| anyhow::anyhow!("{e}"))?;
        let contents = Arc::new(Mutex::new(Config::new()));
        let mut sync_config = CacheSyncConfig::new(CACHE);
        sync_config.poll = Duration::from_secs(1);
        sync_config.reload_wait = Duration::from_secs(5);
        sync_config.instance = name.to_owned();
        let target = Arc::clone(&contents);
        let sync = CacheSync::start(pool.clone(), sync_config, move |conn| {
            let target = Arc::clone(&target);
            async move {
                let rows = conn
                    .query("SELECT key, value FROM demo_config", &[])
                    .await
                    .map_err(HookError::from)?;
                let loaded: Config = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
                *target.lock().unwrap_or_else(|p| p.into_inner()) = loaded;
                Ok(())
            }
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let loaded_at = Arc::new(Mutex::new(Vec::new()));
        let mut versions = sync.subscribe();
        let history = Arc::clone(&loaded_at);
        tokio::spawn(async move {
            while versions.changed().await.is_ok() {
                let version = *versions.borrow_and_update();
                history
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((version, Instant::now()));
            }
        });
        Ok(CacheInstance {
            name,
            pool,
            sync,
            contents,
            loaded_at,
        })
    }

    /// Changes a config value and bumps the cache version in one transaction.
    pub(super) async fn publish(&self, key: &str, value: &str) -> Result<(), pgkeel_conn::Error> {
        self.sync
            .publish(Wait::UpTo(Duration::from_secs(2)), |conn| {
                let (key, value) = (key.to_owned(), value.to_owned());
                async move {
                    conn.execute(
                        "INSERT INTO demo_config VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        &[&key, &value],
                    )
                    .await
                    .map(|_| ())
                }
            })
            .await
            .map(|_| ())
    }

    /// The version loaded and what it holds.
    pub(super) fn loaded(&self) -> (u64, Config) {
        let contents = self
            .contents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (self.sync.loaded_version(), contents)
    }

    /// When this instance first loaded `version` or a later one.
    pub(super) fn reached(&self, version: u64) -> Option<Instant> {
        let history = self.loaded_at.lock().unwrap_or_else(|p| p.into_inner());
        history
            .iter()
            .find(|(v, _)| *v >= version)
            .map(|(_, at)| *at)
    }

    pub(super) fn reloads(&self) -> u64 {
        self.sync.reloads()
    }

    pub(super) fn close(&self) {
        self.sync.stop();
        self.pool.close();
    }
}
