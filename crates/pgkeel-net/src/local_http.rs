//! Which HTTP requests a local control surface (the proxy's control API, `serve`'s admin
//! server, metrics endpoints) accepts. Any web page a developer opens can make the browser
//! send requests to `127.0.0.1:7432`; with DNS rebinding it can even read the answers. Such
//! requests carry a foreign `Host` (the rebinding name) or a foreign `Origin` (the page), so
//! both must name this server: `localhost`, a loopback address, or the address it listens on.

use std::net::{IpAddr, SocketAddr};

/// Ok when a request with these headers may be served by a server listening on `own`;
/// otherwise why not, for the 403 answer. A missing `Host` (HTTP/1.0 tools) is accepted: a
/// browser always sends one.
pub fn check_local_request(
    host: Option<&str>,
    origin: Option<&str>,
    own: SocketAddr,
) -> Result<(), String> {
    if let Some(host) = host
        && !names_this_server(host, own)
    {
        return Err(format!(
            "Host {host:?} does not name this server (use {own}, localhost or a loopback \
             address): refused as a possible DNS-rebinding request"
        ));
    }
    if let Some(origin) = origin {
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let local =
            authority.is_some_and(|a| names_this_server(a, own) && port_of(a) == Some(own.port()));
        if !local {
            return Err(format!(
                "requests from web pages ({origin}) are refused: this API is for tools on this \
                 machine"
            ));
        }
    }
    Ok(())
}

/// Refuses requests whose `Host` or `Origin` is not this server (DNS rebinding, web pages;
/// see [`check_local_request`]) with 403 and the reason.
#[cfg(feature = "axum")]
pub async fn local_only(
    axum::extract::State(own): axum::extract::State<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let verdict = {
        let headers = request.headers();
        let get = |name| {
            headers
                .get(name)
                .map(|v: &axum::http::HeaderValue| v.to_str().unwrap_or("\u{fffd}"))
        };
        check_local_request(
            get(axum::http::header::HOST),
            get(axum::http::header::ORIGIN),
            own,
        )
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(why) => {
            use axum::response::IntoResponse;
            let body = format!("{{\"error\":{},\"status\":403}}\n", json_string(&why));
            (
                axum::http::StatusCode::FORBIDDEN,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    }
}

/// `text` as a JSON string literal.
#[cfg(feature = "axum")]
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `host[:port]` is localhost, a loopback address or `own`'s address.
fn names_this_server(authority: &str, own: SocketAddr) -> bool {
    let host = split_host(authority);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => ip.is_loopback() || (ip == own.ip() && !ip.is_unspecified()),
        Err(_) => false,
    }
}

fn split_host(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(h, _)| h);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

fn port_of(authority: &str) -> Option<u16> {
    let after = match authority.rsplit_once(']') {
        Some((_, rest)) => rest,
        None => authority,
    };
    after.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> SocketAddr {
        "127.0.0.1:7432".parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn local_names_pass_and_foreign_hosts_are_refused() {
        for host in [
            "127.0.0.1:7432",
            "localhost:7432",
            "LOCALHOST",
            "[::1]:7432",
            "127.0.0.2:7432",
        ] {
            assert!(
                check_local_request(Some(host), None, own()).is_ok(),
                "{host}"
            );
        }
        for host in [
            "evil.example",
            "evil.example:7432",
            "10.0.0.1:7432",
            "127.0.0.1.nip.io:7432",
        ] {
            let err = check_local_request(Some(host), None, own()).unwrap_err();
            assert!(err.contains("DNS-rebinding"), "{err}");
        }
        assert!(check_local_request(None, None, own()).is_ok());
    }

    #[test]
    fn only_this_servers_own_origin_passes() {
        assert!(
            check_local_request(Some("127.0.0.1:7432"), Some("http://127.0.0.1:7432"), own())
                .is_ok()
        );
        assert!(
            check_local_request(Some("localhost:7432"), Some("http://localhost:7432"), own())
                .is_ok()
        );
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:3000",
            "null",
            "file://",
        ] {
            let err = check_local_request(Some("127.0.0.1:7432"), Some(origin), own()).unwrap_err();
            assert!(err.contains("web pages"), "{origin}: {err}");
        }
    }

    #[test]
    fn a_server_on_an_address_of_its_own_accepts_that_address() {
        let own: SocketAddr = "10.1.2.3:80".parse().unwrap_or_else(|_| unreachable!());
        assert!(check_local_request(Some("10.1.2.3"), None, own).is_ok());
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap_or_else(|_| unreachable!());
        assert!(check_local_request(Some("0.0.0.0"), None, any).is_err());
    }
}
