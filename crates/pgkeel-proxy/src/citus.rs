//! The recording rendered the way Citus's `citus.dump_network_traffic()` expects: one row per
//! run of consecutive messages of one connection in one direction,
//! `conn \t coordinator|worker \t ['Query(query=...)', ...]`, the first packet of a connection
//! as `[initial message]`, Terminate left out, backslashes doubled for COPY.

use pgkeel_wire::{Direction, MessageType};

use crate::recorder::Record;

/// Rows joined by newlines, without a trailing newline (empty when nothing was recorded).
pub fn render(records: &[Record]) -> String {
    let mut rows: Vec<(u64, Direction, Vec<String>, bool)> = Vec::new();
    for record in records {
        if record.message == MessageType::Terminate {
            continue;
        }
        let item = describe(record);
        match rows.last_mut() {
            Some((conn, from, items, initial))
                if *conn == record.conn && *from == record.from && !*initial && !record.initial =>
            {
                items.push(item);
            }
            _ => rows.push((record.conn, record.from, vec![item], record.initial)),
        }
    }
    rows.iter()
        .map(|(conn, from, items, initial)| {
            let source = match from {
                Direction::Frontend => "coordinator",
                Direction::Backend => "worker",
            };
            let message = if *initial {
                "[initial message]".to_owned()
            } else {
                python_list(items)
            };
            format!("{conn}\t{source}\t{}", message.replace('\\', "\\\\"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn describe(record: &Record) -> String {
    let s = &record.summary;
    let name = record.message.name();
    match record.message {
        MessageType::Query => format!("Query(query={s})"),
        MessageType::CommandComplete => format!("CommandComplete(command={s})"),
        MessageType::ReadyForQuery => {
            let state = match s.as_str() {
                "I" => "idle",
                "T" => "in_transaction_block",
                _ => "in_failed_transaction_block",
            };
            format!("ReadyForQuery(state={state})")
        }
        MessageType::ParameterStatus => format!("ParameterStatus({s})"),
        MessageType::BackendKeyData => "BackendKeyData(XXX)".to_owned(),
        MessageType::Parse => match s.split_once(": ") {
            Some((name, query)) => format!("Parse(name={name},query={query})"),
            None => format!("Parse(name=,query={s})"),
        },
        _ if s.is_empty() => format!("{name}()"),
        _ => format!("{name}({s})"),
    }
}

/// Python's repr() of a list of strings.
fn python_list(items: &[String]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let quote = if item.contains('\'') && !item.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::with_capacity(item.len() + 2);
            out.push(quote);
            for c in item.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c if c == quote => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
            out.push(quote);
            out
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        conn: u64,
        from: Direction,
        message: MessageType,
        summary: &str,
        initial: bool,
    ) -> Record {
        Record {
            seq: 0,
            conn,
            at_us: 0,
            from,
            message,
            len: 0,
            summary: summary.into(),
            initial,
            rule: None,
            action: None,
        }
    }

    #[test]
    fn groups_runs_like_citus() {
        let records = vec![
            rec(
                0,
                Direction::Frontend,
                MessageType::StartupMessage,
                "user=x",
                true,
            ),
            rec(
                0,
                Direction::Backend,
                MessageType::AuthenticationOk,
                "",
                false,
            ),
            rec(
                0,
                Direction::Backend,
                MessageType::ReadyForQuery,
                "I",
                false,
            ),
            rec(
                0,
                Direction::Frontend,
                MessageType::Query,
                "SELECT 'a\\b'",
                false,
            ),
            rec(0, Direction::Frontend, MessageType::Terminate, "", false),
        ];
        let text = render(&records);
        let rows: Vec<&str> = text.split('\n').collect();
        assert_eq!(rows[0], "0\tcoordinator\t[initial message]");
        assert_eq!(
            rows[1],
            "0\tworker\t['AuthenticationOk()', 'ReadyForQuery(state=idle)']"
        );
        assert_eq!(
            rows[2],
            "0\tcoordinator\t[\"Query(query=SELECT 'a\\\\\\\\b')\"]"
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(render(&[]), "");
    }
}
