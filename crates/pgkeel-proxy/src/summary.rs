//! A short human summary of a message for the recording: query text, command tag, SQLSTATE
//! and message, transaction status, startup parameters, ... Password literals in SQL
//! (`ALTER ROLE … PASSWORD '…'`, `CREATE USER MAPPING … OPTIONS (password '…')`) are replaced
//! by `'***'`: recordings are dumped and shared, PostgreSQL's own log does not hide them.

use pgkeel_wire::{FrameRef, MessageType};

/// Summaries longer than this are cut (with `…`).
const MAX_SUMMARY: usize = 1024;

/// `PASSWORD '…'` (any case, `E'…'` too, `''` inside) → `PASSWORD '***'`.
fn redact_passwords(sql: &str) -> String {
    static PASSWORD: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\b(password)(\s*=?\s*)(?:e'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*')")
            .ok()
    });
    match PASSWORD.as_ref() {
        Some(re) if re.is_match(sql) => re.replace_all(sql, "$1$2'***'").into_owned(),
        _ => sql.to_owned(),
    }
}

/// The summary of `frame` of type `ty` (empty for messages with nothing to say).
pub(crate) fn summarize(frame: &FrameRef<'_>, ty: MessageType) -> String {
    let text = match ty {
        MessageType::Query => frame
            .query()
            .and_then(|q| q.text())
            .map(|q| redact_passwords(&lossy(q)))
            .ok(),
        MessageType::Parse => frame.parse().ok().and_then(|p| {
            let name = p.statement().ok()?;
            let query = redact_passwords(&lossy(p.query().ok()?));
            Some(if name.is_empty() {
                query
            } else {
                format!("{}: {query}", lossy(name))
            })
        }),
        MessageType::Bind => frame.bind().ok().and_then(|b| {
            Some(format!(
                "portal={} statement={}",
                lossy(b.portal().ok()?),
                lossy(b.statement().ok()?)
            ))
        }),
        MessageType::Execute => frame.execute().ok().and_then(|e| {
            Some(format!(
                "portal={} max_rows={}",
                lossy(e.portal().ok()?),
                e.max_rows().ok()?
            ))
        }),
        MessageType::Describe | MessageType::Close => frame.target().ok().and_then(|t| {
            Some(format!(
                "{} {}",
                t.kind_byte().ok()? as char,
                lossy(t.name().ok()?)
            ))
        }),
        MessageType::CommandComplete => frame
            .command_complete()
            .and_then(|c| c.tag())
            .map(lossy)
            .ok(),
        MessageType::ErrorResponse | MessageType::NoticeResponse => {
            frame.error_fields().ok().map(|f| {
                format!(
                    "{} {}: {}",
                    f.severity().ok().flatten().map(lossy).unwrap_or_default(),
                    f.code().ok().flatten().map(lossy).unwrap_or_default(),
                    f.message().ok().flatten().map(lossy).unwrap_or_default()
                )
            })
        }
        MessageType::ReadyForQuery => frame
            .ready_for_query()
            .ok()
            .map(|r| (r.status_byte() as char).to_string()),
        MessageType::ParameterStatus => frame.parameter_status().ok().and_then(|p| {
            Some(format!(
                "{}={}",
                lossy(p.name().ok()?),
                lossy(p.value().ok()?)
            ))
        }),
        MessageType::BackendKeyData => frame
            .backend_key_data()
            .and_then(|k| k.pid())
            .map(|p| format!("pid={p}"))
            .ok(),
        MessageType::NotificationResponse => frame.notification().ok().and_then(|n| {
            Some(format!(
                "{}: {}",
                lossy(n.channel().ok()?),
                lossy(n.payload().ok()?)
            ))
        }),
        MessageType::StartupMessage => frame.startup_message().ok().and_then(|s| {
            let (major, minor) = s.version();
            let params = s.parameters().ok()?;
            let mut out = format!("protocol {major}.{minor}");
            for (name, value) in params {
                out.push_str(&format!(" {}={}", lossy(name), lossy(value)));
            }
            Some(out)
        }),
        MessageType::CancelRequest => frame
            .cancel_request()
            .and_then(|c| c.pid())
            .map(|p| format!("pid={p}"))
            .ok(),
        MessageType::AuthenticationSasl => frame.authentication().ok().and_then(|a| {
            let list = a.sasl_mechanisms().ok()?;
            Some(list.iter().map(|m| lossy(m)).collect::<Vec<_>>().join(","))
        }),
        MessageType::SslResponse | MessageType::GssEncResponse => {
            frame.bytes().first().map(|b| (*b as char).to_string())
        }
        MessageType::Unknown => frame.tag().map(|t| format!("tag {:?}", t as char)),
        _ => None,
    };
    let mut text = text.unwrap_or_default();
    if text.len() > MAX_SUMMARY {
        let mut cut = MAX_SUMMARY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact_passwords;

    #[test]
    fn password_literals_are_hidden_and_the_rest_kept() {
        let cases = [
            (
                "ALTER ROLE app PASSWORD 's3cret'",
                "ALTER ROLE app PASSWORD '***'",
            ),
            (
                "create user bob with encrypted password 'it''s'",
                "create user bob with encrypted password '***'",
            ),
            (
                "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'p')",
                "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password '***')",
            ),
            (
                "ALTER ROLE a PASSWORD E'x\\'y'",
                "ALTER ROLE a PASSWORD '***'",
            ),
            ("SELECT 'password' AS word", "SELECT 'password' AS word"),
            ("ALTER ROLE a PASSWORD NULL", "ALTER ROLE a PASSWORD NULL"),
        ];
        for (sql, want) in cases {
            assert_eq!(redact_passwords(sql), want, "{sql}");
        }
    }
}
