//! The admin HTTP server of `pgkeel serve`: `/live`, `/ready` (503 with `Retry-After` and the
//! recovery state while not ready), `/schema`, `/metrics`, and `/rows/{schema}/{table}`, a
//! small read endpoint that goes through the recovering pool.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pgkeel_conn::{Health, Pool, Wait};
use pgkeel_wire::sql::quote_ident;
use serde::Deserialize;
use serde_json::json;

use super::app::App;

/// How long a `/rows` request waits for the database to come back.
const REQUEST_WAIT: Duration = Duration::from_secs(5);
const MAX_ROWS: i64 = 10_000;

#[derive(Clone)]
pub(crate) struct Admin {
    pub(crate) app: Arc<App>,
    pub(crate) pool: Pool,
}

pub(crate) fn router(admin: Admin) -> Router {
    Router::new()
        .route("/live", get(live))
        .route("/ready", get(ready))
        .route("/schema", get(schema))
        .route("/metrics", get(metrics))
        .route("/rows/{schema}/{table}", get(rows))
        .with_state(admin)
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{value}\n"),
    )
        .into_response()
}

/// The recovery state as JSON, with `Retry-After` in whole seconds (at least 1).
fn unavailable(health: &Health, extra: serde_json::Value) -> Response {
    let retry_ms = health.next_retry_in_ms();
    let mut body = json!({
        "state": health.state(),
        "attempt": health.attempt(),
        "next_retry_in_ms": retry_ms,
        "last_error": health.last_error(),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, body);
    let seconds = retry_ms.map_or(1, |ms| ms.div_ceil(1000).max(1));
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn live(State(admin): State<Admin>) -> Response {
    match admin.pool.health() {
        Health::Fatal(error) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"status": "fatal", "error": error.to_string()}),
        ),
        _ => json_response(StatusCode::OK, json!({"status": "alive"})),
    }
}

async fn ready(State(admin): State<Admin>) -> Response {
    let health = admin.pool.health();
    let generation = admin.app.schema().generation;
    match (&health, generation) {
        (Health::Ready { epoch, .. }, g) if g > 0 => json_response(
            StatusCode::OK,
            json!({"state": "ready", "epoch": epoch, "generation": g}),
        ),
        (Health::Ready { .. }, _) => unavailable(&health, json!({"state": "loading"})),
        _ => unavailable(&health, json!({})),
    }
}

async fn schema(State(admin): State<Admin>) -> Response {
    let cache = admin.app.schema();
    match serde_json::to_value(&*cache) {
        Ok(value) => json_response(StatusCode::OK, value),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

async fn metrics(State(admin): State<Admin>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        admin.app.metrics.render(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct RowsQuery {
    limit: Option<i64>,
}

async fn rows(
    State(admin): State<Admin>,
    Path((schema, table)): Path<(String, String)>,
    Query(q): Query<RowsQuery>,
) -> Response {
    let cache = admin.app.schema();
    if cache.table(&schema, &table).is_none() {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("{schema}.{table} is not in the schema cache (generation {}); cached schemas: {:?}", cache.generation, cache.schemas)}),
        );
    }
    let limit = q.limit.unwrap_or(100).clamp(0, MAX_ROWS);
    let sql = format!(
        "SELECT coalesce(json_agg(t), '[]'::json)::text FROM (SELECT * FROM {}.{} LIMIT {limit}) t",
        quote_ident(&schema),
        quote_ident(&table)
    );
    let result = admin
        .pool
        .run_idempotent(Wait::UpTo(REQUEST_WAIT), |c| {
            let sql = sql.clone();
            async move { c.query_one(&sql, &[]).await.map(|r| r.get::<_, String>(0)) }
        })
        .await;
    match result {
        Ok(outcome) => {
            let mut response =
                ([(header::CONTENT_TYPE, "application/json")], outcome.value).into_response();
            if outcome.recovered {
                response
                    .headers_mut()
                    .insert("x-pgkeel-recovered", HeaderValue::from_static("true"));
            }
            response
        }
        Err(e) if e.is_unavailable() || e.is_transient() => {
            unavailable(&admin.pool.health(), json!({"error": e.to_string()}))
        }
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}
