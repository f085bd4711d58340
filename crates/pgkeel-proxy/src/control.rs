//! The HTTP control API: set and read rules, wait for a rule to fire, list and kill
//! connections, read and clear the recording, Prometheus metrics.
//!
//! | method and path | does |
//! |---|---|
//! | `PUT /rules` (body: rule string) | `{"version": N}`, or 400 with line/column |
//! | `GET /rules` | rules in force, per-rule fired counts |
//! | `GET /rules/fired?rule=I&min=N&timeout_ms=T` | waits until rule I (any rule without `rule`) fired N times; 408 on timeout |
//! | `GET /connections` | open connections |
//! | `DELETE /connections/{id}[?reset=true]` | closes one (RST with `reset`) |
//! | `GET /recording?format=jsonl\|citus&since=SEQ` | the recording |
//! | `DELETE /recording` | clears it |
//! | `GET /metrics` | Prometheus text |
//!
//! Every request passes `control_access::guard` first: 403 for a foreign Host or Origin, 401
//! without `Authorization: Bearer <token>` when a token is configured.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::citus;
use crate::connection::Ending;
use crate::control_access::{self, Access, ControlToken};
use crate::error::ProxyError;
use crate::shared::ProxyShared;

type Shared = State<Arc<ProxyShared>>;

/// Who may use the API (see `control_access.rs`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub(crate) token: Option<ControlToken>,
    pub(crate) allow_remote: bool,
}

/// Binds `addr` and serves the API until `shutdown`; returns the bound address. The caller
/// has checked the policy (`control_access::check_config`).
pub(crate) async fn serve(
    addr: SocketAddr,
    policy: Policy,
    shared: Arc<ProxyShared>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<SocketAddr, ProxyError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ProxyError::io(format!("listen for the control API on {addr}"), e))?;
    let local = listener
        .local_addr()
        .map_err(|e| ProxyError::io("read the control API address", e))?;
    let access = Arc::new(Access {
        own: local,
        token: policy.token,
        allow_remote: policy.allow_remote,
    });
    let app = router(shared).layer(axum::middleware::from_fn_with_state(
        access,
        control_access::guard,
    ));
    tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "control API stopped");
        }
    });
    Ok(local)
}

pub(crate) fn router(shared: Arc<ProxyShared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/rules", get(get_rules).put(put_rules))
        .route("/rules/fired", get(wait_fired))
        .route("/connections", get(connections))
        .route("/connections/{id}", delete(kill_connection))
        .route("/recording", get(recording).delete(clear_recording))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{value}\n"),
    )
        .into_response()
}

async fn index() -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "endpoints": [
                "PUT /rules", "GET /rules", "GET /rules/fired?rule=I&min=N&timeout_ms=T",
                "GET /connections", "DELETE /connections/{id}[?reset=true]",
                "GET /recording?format=jsonl|citus&since=SEQ", "DELETE /recording", "GET /metrics"
            ]
        }),
    )
}

async fn get_rules(State(shared): Shared) -> Response {
    let rules = shared.rules.load_full();
    let fired = rules.fired_counts();
    let list: Vec<serde_json::Value> = rules
        .rules()
        .iter()
        .zip(fired)
        .enumerate()
        .map(|(index, (rule, fired))| {
            json!({"index": index, "rule": rule.text(), "action": rule.action().name(), "fired": fired})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"version": rules.version(), "text": rules.source(), "rules": list, "killing_all": rules.is_killing_all()}),
    )
}

async fn put_rules(State(shared): Shared, body: String) -> Response {
    match shared.set_rules(&body) {
        Ok(version) => json_response(StatusCode::OK, json!({"version": version})),
        Err(e) => json_response(
            StatusCode::BAD_REQUEST,
            json!({
                "error": e.to_string(),
                "line": e.line,
                "column": e.column,
                "offset": e.offset,
                "version": shared.rules.load().version(),
            }),
        ),
    }
}

#[derive(Debug, Deserialize)]
struct FiredQuery {
    rule: Option<usize>,
    min: Option<u64>,
    timeout_ms: Option<u64>,
}

async fn wait_fired(State(shared): Shared, Query(q): Query<FiredQuery>) -> Response {
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(10_000).min(600_000));
    let min = q.min.unwrap_or(1);
    match shared.wait_fired(q.rule, min, timeout).await {
        Ok(fired) => json_response(StatusCode::OK, json!({"fired": fired})),
        Err(fired) => json_response(
            StatusCode::REQUEST_TIMEOUT,
            json!({"error": format!("timed out after {} ms waiting for {min} firing(s)", timeout.as_millis()), "fired": fired}),
        ),
    }
}

async fn connections(State(shared): Shared) -> Response {
    json_response(StatusCode::OK, json!(shared.connections()))
}

#[derive(Debug, Deserialize)]
struct KillQuery {
    reset: Option<bool>,
}

async fn kill_connection(
    State(shared): Shared,
    Path(id): Path<u64>,
    Query(q): Query<KillQuery>,
) -> Response {
    let how = if q.reset.unwrap_or(false) {
        Ending::Reset
    } else {
        Ending::Close
    };
    if shared.end_connection(id, how) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no open connection {id}")}),
        )
    }
}

#[derive(Debug, Deserialize)]
struct RecordingQuery {
    format: Option<String>,
    since: Option<u64>,
}

async fn recording(State(shared): Shared, Query(q): Query<RecordingQuery>) -> Response {
    let records = shared.recorder.snapshot(q.since.unwrap_or(0));
    match q.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => {
            let mut body = String::new();
            for record in &records {
                if let Ok(line) = serde_json::to_string(record) {
                    body.push_str(&line);
                    body.push('\n');
                }
            }
            ([(header::CONTENT_TYPE, "application/jsonl")], body).into_response()
        }
        "citus" => (
            [(header::CONTENT_TYPE, "text/plain")],
            citus::render(&records),
        )
            .into_response(),
        other => json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("unknown format `{other}`; use jsonl or citus")}),
        ),
    }
}

async fn clear_recording(State(shared): Shared) -> Response {
    shared.recorder.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn metrics(State(shared): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.stats.render(),
    )
        .into_response()
}
