//! Takes the TLS settings (`sslmode`, `sslrootcert`, …) out of a libpq URL or DSN before
//! tokio-postgres parses the rest: it knows only `disable|prefer|require` and none of the file
//! settings, and pgkeel applies them itself with libpq's meaning.

use crate::error::Error;

/// The keys pgkeel handles itself (libpq spelling).
pub(crate) const TLS_KEYS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslsni",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "sslcompression",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
];

/// A connection string without its TLS settings, and those settings in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) rest: String,
    pub(crate) tls: Vec<(String, String)>,
}

/// Splits `text` (a `postgres://` / `postgresql://` URL or a `key=value` DSN).
pub(crate) fn split(text: &str) -> Result<Split, Error> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        split_url(text)
    } else {
        split_dsn(text)
    }
}

fn split_url(text: &str) -> Result<Split, Error> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok(Split {
            rest: text.to_owned(),
            tls: Vec::new(),
        });
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key)?;
        if TLS_KEYS.contains(&key.as_str()) {
            tls.push((key, percent_decode(value)?));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Split { rest, tls })
}

fn percent_decode(text: &str) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        Error::config(format!(
                            "the database URL has a bad percent escape in `{text}`"
                        ))
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| Error::config(format!("the database URL setting `{text}` is not UTF-8")))
}

/// libpq's DSN grammar: `key = value` pairs separated by spaces; a value is a run of
/// non-space characters or a single-quoted string with `\'` and `\\` escapes.
fn split_dsn(text: &str) -> Result<Split, Error> {
    let mut rest = String::with_capacity(text.len());
    let mut tls = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut copied_to = 0;
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            // Not a DSN tokio-postgres would accept either: let it report the error.
            return Ok(Split {
                rest: text.to_owned(),
                tls: Vec::new(),
            });
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(Error::config(format!(
                    "the connection string has an unterminated quote in the value of `{key}`"
                )));
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        if TLS_KEYS.contains(&key.as_str()) {
            rest.push_str(&text[copied_to..start]);
            copied_to = end;
            tls.push((key, value));
        }
    }
    rest.push_str(&text[copied_to..]);
    Ok(Split { rest, tls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn urls_lose_their_tls_settings_only() {
        let s = split(
            "postgres://u:p@h:5/d?sslmode=verify-full&connect_timeout=3&sslrootcert=%2Ftmp%2Fca.crt",
        )
        .unwrap();
        assert_eq!(s.rest, "postgres://u:p@h:5/d?connect_timeout=3");
        assert_eq!(
            s.tls,
            pairs(&[("sslmode", "verify-full"), ("sslrootcert", "/tmp/ca.crt")])
        );
        let s = split("postgresql://h/d?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgresql://h/d");
        let s = split("postgres://h/d").unwrap();
        assert_eq!((s.rest.as_str(), s.tls.len()), ("postgres://h/d", 0));
        assert!(split("postgres://h/d?sslrootcert=%zz").is_err());
    }

    #[test]
    fn dsns_lose_their_tls_settings_only() {
        let s = split(
            "host=h sslmode = verify-ca user=u sslrootcert='/a b/c\\'s.crt' dbname=d sslkey=k",
        )
        .unwrap();
        assert_eq!(s.rest, "host=h  user=u  dbname=d ");
        assert_eq!(
            s.tls,
            pairs(&[
                ("sslmode", "verify-ca"),
                ("sslrootcert", "/a b/c's.crt"),
                ("sslkey", "k")
            ])
        );
        let s = split("host=h user=u").unwrap();
        assert_eq!(s.rest, "host=h user=u");
        assert!(split("host=h sslrootcert='open").is_err());
        // Not a DSN at all: handed on unchanged for tokio-postgres to refuse.
        assert_eq!(split("not a dsn").unwrap().rest, "not a dsn");
    }
}
