//! Connection URLs in the libpq form that psql and tokio-postgres both accept.

/// `postgres://user[:password]@host:port/database`.
pub(crate) fn tcp(user: &str, password: Option<&str>, host: &str, port: u16, db: &str) -> String {
    let password = password
        .map(|p| format!(":{}", encode(p, false)))
        .unwrap_or_default();
    format!(
        "postgres://{}{password}@{host}:{port}/{}",
        encode(user, false),
        encode(db, false)
    )
}

/// `postgres:///database?host=/socket/dir&port=N&user=user` (a unix-socket connection).
pub(crate) fn socket(user: &str, socket_dir: &str, port: u16, db: &str) -> String {
    format!(
        "postgres:///{}?host={}&port={port}&user={}",
        encode(db, false),
        encode(socket_dir, true),
        encode(user, false)
    )
}

/// Percent-encodes all but RFC 3986 unreserved characters (and `/` when `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_credentials() {
        assert_eq!(
            tcp("app", Some("p@ss:w/rd"), "127.0.0.1", 5432, "db"),
            "postgres://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/db"
        );
        assert_eq!(
            socket("postgres", "/tmp/x y", 5, "postgres"),
            "postgres:///postgres?host=/tmp/x%20y&port=5&user=postgres"
        );
    }
}
