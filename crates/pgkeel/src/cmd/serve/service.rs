//! The running service of `pgkeel serve`: a recovering pool whose reconnect hook reloads the
//! config and schema cache, the admin HTTP server, the reload worker fed by SIGUSR1/SIGUSR2
//! and `NOTIFY pgkeel`, and the wait for shutdown or a fatal error.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusBuilder;
use pgkeel_conn::{Health, Pool, PoolConfig, Wait};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::admin;
use super::app::App;
use super::channel;

/// How long a reload requested by a signal or NOTIFY waits for the database.
const RELOAD_WAIT: Duration = Duration::from_secs(5);

/// What `serve` needs from the command line.
pub(crate) struct Options {
    pub(crate) pool: PoolConfig,
    pub(crate) admin_listen: SocketAddr,
    pub(crate) schemas: Vec<String>,
    pub(crate) channel: bool,
}

pub(crate) async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let app = App::new(options.schemas, metrics);
    let hook_app = Arc::clone(&app);
    let url_config = options.pool.clone();
    let pool = Pool::builder(options.pool)
        .on_reconnect("config and schema", move |conn| {
            let app = Arc::clone(&hook_app);
            async move {
                app.reload_config(&conn).await?;
                app.reload_schema(&conn).await?;
                Ok(())
            }
        })
        .start()
        .context("cannot start the connection pool")?;

    let listener = tokio::net::TcpListener::bind(options.admin_listen)
        .await
        .with_context(|| format!("cannot listen on --admin-listen {}", options.admin_listen))?;
    let admin_addr = listener.local_addr().context("read the admin address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "PGKEEL_ADMIN={admin_addr}")
            .and_then(|()| out.flush())
            .context("write to stdout")?;
    }
    tracing::info!(admin = %admin_addr, schemas = ?app.schemas(), "serve started");
    let router = admin::router(admin::Admin {
        app: Arc::clone(&app),
        pool: pool.clone(),
    });
    let router = router.layer(axum::middleware::from_fn_with_state(
        admin_addr,
        pgkeel_net::local_only,
    ));
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the admin server stopped");
        }
    });
    tokio::spawn(reload_worker(Arc::clone(&app), pool.clone()));
    tokio::spawn(reload_on_signals(Arc::clone(&app)));
    if options.channel {
        tokio::spawn(channel::listen(
            url_config,
            Arc::clone(&app),
            shutdown.clone(),
        ));
    }

    let mut health = pool.subscribe();
    let fatal = async {
        loop {
            if let Health::Fatal(error) = &*health.borrow_and_update() {
                return error.clone();
            }
            if health.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => {
            pool.close();
            Ok(ExitCode::SUCCESS)
        }
        error = fatal => {
            eprintln!("pgkeel: serve cannot continue: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Runs requested reloads one at a time, through the pool.
async fn reload_worker(app: Arc<App>, pool: Pool) {
    loop {
        let pending = app.requests.next().await;
        let worker = Arc::clone(&app);
        let result = pool
            .run(Wait::UpTo(RELOAD_WAIT), |conn| {
                let app = Arc::clone(&worker);
                async move {
                    if pending.config {
                        app.reload_config(&conn).await?;
                    }
                    if pending.schema {
                        app.reload_schema(&conn).await?;
                    }
                    Ok::<(), tokio_postgres::Error>(())
                }
            })
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, config = pending.config, schema = pending.schema, "reload failed; the cache is reloaded again after the next recovery");
        }
    }
}

/// SIGUSR1 reloads the schema cache, SIGUSR2 the config (and then the schema cache).
async fn reload_on_signals(app: Arc<App>) {
    let (Ok(mut usr1), Ok(mut usr2)) = (
        signal(SignalKind::user_defined1()),
        signal(SignalKind::user_defined2()),
    ) else {
        tracing::warn!("cannot install SIGUSR1/SIGUSR2 handlers; reload by NOTIFY instead");
        return;
    };
    loop {
        tokio::select! {
            _ = usr1.recv() => {
                tracing::info!(signal = "SIGUSR1", "schema reload requested");
                app.requests.schema();
            }
            _ = usr2.recv() => {
                tracing::info!(signal = "SIGUSR2", "config reload requested");
                app.requests.config();
            }
        }
    }
}
