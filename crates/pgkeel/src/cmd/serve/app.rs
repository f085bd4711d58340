//! The state of `pgkeel serve`: the schema cache and the in-database config (swapped
//! atomically, so readers never see half a reload and running queries are never interrupted),
//! and the reload procedures shared by the recovery hook and the reload worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;

use super::reload::Requests;
use super::role_config::{self, RoleConfig};
use super::schema::{self, SchemaCache};

/// Metric names of `serve`.
pub(crate) const SCHEMA_RELOADS: &str = "pgkeel_serve_schema_reloads_total";
pub(crate) const SCHEMA_RELOAD_FAILURES: &str = "pgkeel_serve_schema_reload_failures_total";
pub(crate) const SCHEMA_GENERATION: &str = "pgkeel_serve_schema_generation";
pub(crate) const CONFIG_RELOADS: &str = "pgkeel_serve_config_reloads_total";

pub(crate) struct App {
    cli_schemas: Vec<String>,
    config: ArcSwap<RoleConfig>,
    schema: ArcSwap<SchemaCache>,
    generation: AtomicU64,
    /// One reload at a time, whoever asks (hook or worker).
    reloading: tokio::sync::Mutex<()>,
    pub(crate) requests: Requests,
    pub(crate) metrics: PrometheusHandle,
}

impl App {
    pub(crate) fn new(cli_schemas: Vec<String>, metrics: PrometheusHandle) -> Arc<Self> {
        Arc::new(App {
            cli_schemas,
            config: ArcSwap::from_pointee(RoleConfig::default()),
            schema: ArcSwap::from_pointee(SchemaCache::empty()),
            generation: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            requests: Requests::default(),
            metrics,
        })
    }

    pub(crate) fn schema(&self) -> Arc<SchemaCache> {
        self.schema.load_full()
    }

    pub(crate) fn config(&self) -> Arc<RoleConfig> {
        self.config.load_full()
    }

    /// The schemas to cache: `pgkeel.schemas` from the database if set, else `--schemas`.
    pub(crate) fn schemas(&self) -> Vec<String> {
        self.config()
            .schemas
            .clone()
            .unwrap_or_else(|| self.cli_schemas.clone())
    }

    /// Re-reads the `pgkeel.*` role settings.
    pub(crate) async fn reload_config(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        let _one = self.reloading.lock().await;
        let config = role_config::load(client).await?;
        if *self.config() != config {
            tracing::info!(schemas = ?config.schemas, "in-database config changed");
        }
        self.config.store(Arc::new(config));
        metrics::counter!(CONFIG_RELOADS).increment(1);
        Ok(())
    }

    /// Reloads the schema cache and bumps its generation.
    pub(crate) async fn reload_schema(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<u64, tokio_postgres::Error> {
        let _one = self.reloading.lock().await;
        let schemas = self.schemas();
        let (tables, took) = match schema::load(client, &schemas).await {
            Ok(loaded) => loaded,
            Err(e) => {
                metrics::counter!(SCHEMA_RELOAD_FAILURES).increment(1);
                return Err(e);
            }
        };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let count = tables.len();
        self.schema.store(Arc::new(SchemaCache {
            generation,
            loaded_at: SystemTime::now(),
            load_ms: took.as_millis() as u64,
            schemas: schemas.clone(),
            tables,
        }));
        metrics::counter!(SCHEMA_RELOADS).increment(1);
        metrics::gauge!(SCHEMA_GENERATION).set(generation as f64);
        tracing::info!(generation, tables = count, schemas = ?schemas, duration_ms = took.as_millis() as u64, "schema cache reloaded");
        Ok(generation)
    }
}
