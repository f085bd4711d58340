//! Who may use the control API: the local-request check (Host/Origin, against DNS rebinding and
//! web pages) and, when configured, a bearer token on every request — required when the API
//! listens on a non-loopback address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ProxyError;

/// The control API's bearer token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlToken(String);

impl ControlToken {
    /// A token; an empty or blank one, or one that cannot go into an HTTP header, is refused.
    pub fn new(token: impl Into<String>) -> Result<Self, ProxyError> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(ProxyError::Config(
                "the control token is empty; pick a long random string (e.g. `openssl rand -hex 32`)"
                    .into(),
            ));
        }
        if token != token.trim() || HeaderValue::from_str(&token).is_err() {
            return Err(ProxyError::Config(
                "the control token must be visible ASCII without leading or trailing spaces \
                 (e.g. `openssl rand -hex 32`)"
                    .into(),
            ));
        }
        Ok(ControlToken(token))
    }

    /// The secret itself (to send it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison with what a request presented (the time taken depends only on
    /// the lengths, never on where the first differing byte is).
    fn matches(&self, presented: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        let mut diff = u8::from(expected.len() != presented.len());
        for (i, &e) in expected.iter().enumerate() {
            let p = presented.get(i).copied().unwrap_or(!e);
            diff |= e ^ p;
        }
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(***)")
    }
}

/// The policy of one control API.
#[derive(Debug)]
pub(crate) struct Access {
    /// The bound address.
    pub(crate) own: SocketAddr,
    /// Required on every request when set.
    pub(crate) token: Option<ControlToken>,
    /// Listening beyond loopback was allowed: a Host naming the bound address (any IP
    /// literal when bound to 0.0.0.0 or ::) is accepted too.
    pub(crate) allow_remote: bool,
}

/// Refuses a configuration where a non-loopback API would be open to anyone.
pub(crate) fn check_config(
    addr: SocketAddr,
    allow_remote: bool,
    token: Option<&ControlToken>,
) -> Result<(), ProxyError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !allow_remote {
        return Err(ProxyError::Config(format!(
            "the control API address {addr} is not a loopback address; allow it explicitly \
             (--control-allow-remote) and set a token (--control-token or PGKEEL_CONTROL_TOKEN)"
        )));
    }
    if token.is_none() {
        return Err(ProxyError::Config(format!(
            "the control API on {addr} would let anyone who reaches it kill your connections: \
             a remote control API requires a token (--control-token TOKEN or \
             PGKEEL_CONTROL_TOKEN)"
        )));
    }
    Ok(())
}

/// axum middleware: 403 for a foreign Host/Origin, 401 without the right token.
pub(crate) async fn guard(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(why) = check_origin(&access, request.headers()) {
        return refusal(StatusCode::FORBIDDEN, &why);
    }
    if let Some(token) = &access.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()));
        let ok = presented.is_some_and(|p| token.matches(p));
        if !ok {
            let why = if presented.is_some() {
                "wrong control token: send the token `pgkeel proxy` was started with"
            } else {
                "this control API requires a token: send `Authorization: Bearer <token>` \
                 (pgkeel fault: --control-token or PGKEEL_CONTROL_TOKEN)"
            };
            let mut response = refusal(StatusCode::UNAUTHORIZED, why);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pgkeel proxy control\""),
            );
            return response;
        }
    }
    next.run(request).await
}

fn check_origin(access: &Access, headers: &HeaderMap) -> Result<(), String> {
    let get = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap_or("\u{fffd}"))
    };
    let host = get(header::HOST);
    let origin = get(header::ORIGIN);
    match pgkeel_net::check_local_request(host, origin, access.own) {
        Ok(()) => Ok(()),
        Err(why) => {
            if access.allow_remote
                && origin.is_none()
                && host.is_some_and(|h| names_remote(h, access.own))
            {
                Ok(())
            } else {
                Err(why)
            }
        }
    }
}

/// With `--control-allow-remote`: the Host names the bound address, or (bound to the
/// unspecified address) is an IP literal. A name is still refused: DNS rebinding needs one.
fn names_remote(authority: &str, own: SocketAddr) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    match host.parse::<IpAddr>() {
        Ok(ip) => own.ip().is_unspecified() || ip == own.ip(),
        Err(_) => false,
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    let token = rest.get(start..)?;
    let end = token.iter().rposition(|b| *b != b' ')?;
    token.get(..=end)
}

fn refusal(status: StatusCode, why: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{}\n", json!({"error": why, "status": status.as_u16()})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ControlToken {
        ControlToken::new("s3cret-token").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn tokens_compare_exactly() {
        let t = token();
        assert!(t.matches(b"s3cret-token"));
        for wrong in [
            &b""[..],
            b"s3cret-toke",
            b"s3cret-tokem",
            b"s3cret-token!",
            b"S3cret-token",
        ] {
            assert!(!t.matches(wrong), "{wrong:?}");
        }
        assert!(ControlToken::new("").is_err());
        assert!(ControlToken::new("  ").is_err());
        assert!(ControlToken::new(" padded").is_err());
        assert!(ControlToken::new("new\nline").is_err());
        assert_eq!(format!("{t:?}"), "ControlToken(***)");
    }

    #[test]
    fn bearer_values_are_parsed_and_others_ignored() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn remote_hosts_are_ip_literals_of_the_bound_address() {
        let any: SocketAddr = "0.0.0.0:7432".parse().unwrap_or_else(|_| unreachable!());
        let one: SocketAddr = "10.1.2.3:7432".parse().unwrap_or_else(|_| unreachable!());
        assert!(names_remote("10.9.9.9:7432", any));
        assert!(names_remote("[fd00::1]:7432", any));
        assert!(!names_remote("evil.example:7432", any));
        assert!(names_remote("10.1.2.3:7432", one));
        assert!(!names_remote("10.9.9.9:7432", one));
    }

    #[test]
    fn a_remote_api_needs_the_flag_and_a_token() {
        let remote: SocketAddr = "0.0.0.0:7432".parse().unwrap_or_else(|_| unreachable!());
        let local: SocketAddr = "127.0.0.1:7432".parse().unwrap_or_else(|_| unreachable!());
        assert!(check_config(local, false, None).is_ok());
        let err = check_config(remote, false, Some(&token()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--control-allow-remote"), "{err}");
        let err = check_config(remote, true, None).unwrap_err().to_string();
        assert!(err.contains("requires a token"), "{err}");
        assert!(check_config(remote, true, Some(&token())).is_ok());
    }
}
