//! The HTTP sink: each batch POSTed as one JSON array; a 2xx answer means the receiver holds it.
//! Any other answer, a connection error or a timeout is retried with backoff until it succeeds
//! or shutdown begins — a batch is never skipped. Plain `http://` only. Delivery is at least
//! once: a receiver should use `(commit_lsn, ordinal)` of each event as its idempotency key
//! (events come in increasing order, so "at or before the last stored" means "already have").

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pgkeel_conn::Backoff;
use tokio_util::sync::CancellationToken;

use super::{Batch, Sink, SinkError};

/// How much of a response body is read (and at most 200 characters of it logged).
const RESPONSE_LIMIT: usize = 64 * 1024;

/// POSTs each batch as a JSON array (`Content-Type: application/json`) to a URL.
#[derive(Debug)]
pub struct HttpSink {
    url: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    backoff: Backoff,
    timeout: Duration,
    cancel: CancellationToken,
    random: pgkeel_conn::Jitter,
}

impl HttpSink {
    /// How long one request may take, from connecting to the end of the response.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// Retries start after 100 ms and double up to 10 s.
    pub const DEFAULT_BACKOFF: Backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(10),
        jitter: 0.3,
    };

    /// A sink posting to `url` (`http://HOST[:PORT]/PATH`), with [`Self::DEFAULT_BACKOFF`] and
    /// [`Self::DEFAULT_TIMEOUT`]; retries stop with a cancelled error when `cancel` fires.
    pub fn new(url: &str, cancel: CancellationToken) -> Result<Self, SinkError> {
        Ok(HttpSink {
            url: parse_url(url)?,
            client: Client::builder(TokioExecutor::new()).build_http(),
            backoff: Self::DEFAULT_BACKOFF,
            timeout: Self::DEFAULT_TIMEOUT,
            cancel,
            random: pgkeel_conn::Jitter::new(),
        })
    }

    /// The same sink with other retry delays.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The same sink with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL posted to.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// One POST: `Ok` on a 2xx answer, else what went wrong.
    async fn post(&self, body: Bytes) -> Result<(), String> {
        let request = Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| error_chain(&e))?;
        let status = response.status();
        // Read the body so the connection can be reused; for an error it explains the status.
        let body = Limited::new(response.into_body(), RESPONSE_LIMIT)
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let text: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(format!("HTTP {status}: {}", text.trim()))
    }

    async fn deliver_body(&mut self, body: Bytes) -> Result<(), SinkError> {
        let mut attempt: u32 = 0;
        let mut last_failure = String::new();
        loop {
            let outcome = tokio::select! {
                biased;
                () = self.cancel.cancelled() => None,
                outcome = tokio::time::timeout(self.timeout, self.post(body.clone())) => {
                    Some(outcome)
                }
            };
            let failure = match outcome {
                None => return Err(self.cancelled(attempt, &last_failure)),
                Some(Ok(Ok(()))) => {
                    if attempt > 0 {
                        tracing::info!(
                            sink = %self.describe(),
                            attempts = attempt + 1,
                            "batch delivered after retries"
                        );
                    }
                    return Ok(());
                }
                Some(Ok(Err(failure))) => failure,
                Some(Err(_elapsed)) => format!("no complete answer within {:?}", self.timeout),
            };
            attempt = attempt.saturating_add(1);
            let random = self.random.next();
            let delay = self.backoff.delay(attempt, random);
            tracing::warn!(
                sink = %self.describe(),
                attempt,
                error = %failure,
                retry_in = ?delay,
                "cannot deliver the batch; retrying"
            );
            last_failure = failure;
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    return Err(self.cancelled(attempt, &last_failure));
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    fn cancelled(&self, failures: u32, last_failure: &str) -> SinkError {
        let detail = if failures == 0 {
            String::new()
        } else {
            format!(" after {failures} failed attempts (last: {last_failure})")
        };
        SinkError::cancelled(self.describe(), &detail)
    }
}

impl Sink for HttpSink {
    fn deliver<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if batch.events.is_empty() {
                return Ok(());
            }
            let body = Bytes::from(batch.json_array());
            self.deliver_body(body).await
        })
    }

    fn describe(&self) -> String {
        format!("http {}", self.url)
    }
}

/// An `http://` URL with a host; `https://` is refused with advice.
fn parse_url(url: &str) -> Result<Uri, SinkError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| SinkError::invalid_spec(url, format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some(scheme) if scheme.eq_ignore_ascii_case("http") => {}
        Some(scheme) if scheme.eq_ignore_ascii_case("https") => {
            return Err(SinkError::invalid_spec(
                url,
                "TLS is not supported yet; put a TLS-terminating proxy in front of the \
                 receiver and give its http:// URL",
            ));
        }
        _ => {
            return Err(SinkError::invalid_spec(
                url,
                "the HTTP sink needs an http://HOST[:PORT]/PATH URL",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(SinkError::invalid_spec(url, "the URL has no host"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(SinkError::invalid_spec(
            "http://…@…",
            "credentials in the URL are not supported (they would be logged); use a proxy that \
             adds them",
        ));
    }
    Ok(uri)
}

/// An error and its causes, joined by `: ` (hyper's own message alone is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
