//! The demo's infrastructure: a throwaway cluster, the fault proxy in front of it, and a run
//! directory for the event file and the child processes' logs. Everything here is removed on
//! close unless `--keep`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use pgkeel_embedded::Cluster;
use pgkeel_proxy::{Address, Proxy, ProxyConfig};

/// The database the demo runs in.
pub(super) const DATABASE: &str = "demo";

/// What the demo runs on.
pub(super) struct System {
    pub(super) cluster: Arc<Cluster>,
    pub(super) proxy: Proxy,
    pub(super) run_dir: PathBuf,
    keep: bool,
}

impl System {
    /// Starts the cluster (wal_level = logical) and the proxy, and makes the run directory.
    pub(super) async fn start(keep: bool) -> anyhow::Result<System> {
        let run_dir = std::env::temp_dir().join(format!("pgkeel-demo-{}", std::process::id()));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
        let builder = Cluster::builder()
            .keep(keep)
            .setting("wal_sender_timeout", "10s")
            .setting("max_connections", "100");
        let cluster = tokio::task::spawn_blocking(move || builder.start())
            .await
            .context("the startup task failed")?
            .context("cannot start PostgreSQL (is it installed? see `pgkeel postgres --help`)")?;
        let cluster = Arc::new(cluster);
        let creating = Arc::clone(&cluster);
        tokio::task::spawn_blocking(move || creating.create_database(DATABASE))
            .await
            .context("the setup task failed")?
            .context("cannot create the demo database")?;
        let mut config = ProxyConfig::new(Address::tcp(cluster.host(), cluster.port()));
        config.record = 0;
        let proxy = Proxy::start(config)
            .await
            .context("cannot start the fault proxy")?;
        Ok(System {
            cluster,
            proxy,
            run_dir,
            keep,
        })
    }

    /// A URL of the demo database through the proxy, naming the component connecting.
    pub(super) fn proxied_url(&self, application: &str) -> String {
        let port = self.proxy.port().unwrap_or_default();
        format!(
            "postgres://{user}@127.0.0.1:{port}/{DATABASE}?application_name={application}",
            user = self.cluster.user()
        )
    }

    /// A URL of the demo database straight to Postgres, for setup and the referee.
    pub(super) fn direct_url(&self) -> String {
        self.cluster.url_for(DATABASE)
    }

    /// The file the stream writes events to.
    pub(super) fn events_path(&self) -> PathBuf {
        self.run_dir.join("changes.jsonl")
    }

    /// Where a child process's log goes.
    pub(super) fn log_path(&self, name: &str) -> PathBuf {
        self.run_dir.join(format!("{name}.log"))
    }

    pub(super) fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub(super) fn keep(&self) -> bool {
        self.keep
    }

    /// Stops the proxy and the cluster; removes the run directory unless kept.
    pub(super) async fn close(self) -> anyhow::Result<()> {
        self.proxy.shutdown().await;
        let cluster = Arc::clone(&self.cluster);
        tokio::task::spawn_blocking(move || cluster.close())
            .await
            .context("the shutdown task failed")?
            .context("stopping PostgreSQL failed")?;
        if !self.keep {
            std::fs::remove_dir_all(&self.run_dir).with_context(|| {
                format!("cannot remove the run directory {}", self.run_dir.display())
            })?;
        }
        Ok(())
    }
}
