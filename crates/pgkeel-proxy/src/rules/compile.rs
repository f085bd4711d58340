//! Turns parsed call chains into rules: checks names, arguments and regexes, and reports every
//! mistake with its position and what would be accepted instead.

use std::time::Duration;

use pgkeel_wire::{Direction, MessageType};
use regex::bytes::Regex;

use super::action::{Action, InjectedError};
use super::error::{RuleError, did_you_mean};
use super::fields::{self, Field};
use super::syntax::{Arg, Call, Statement, Value, parse};
use super::typeset::TypeSet;

/// One step of a rule's filter chain, evaluated left to right.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// `on<Message>(field="regex", ...)`.
    On {
        types: TypeSet,
        fields: Vec<(Field, Regex)>,
    },
    /// `matches(b"regex")` on the whole message bytes.
    Matches(Regex),
    /// `contains(b"bytes")` on the whole message bytes.
    Contains(Vec<u8>),
    /// `after(n)`: let the first n messages that reach this step through unmatched.
    After { n: u64, slot: usize },
    /// `where(user="regex", ...)`: startup parameters of the connection.
    Where(Vec<(String, Regex)>),
    /// `fromClient()` / `fromServer()`.
    From(Direction),
}

/// A compiled rule: filters, modifiers and one action.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) text: String,
    pub(crate) steps: Vec<Step>,
    pub(crate) action: Action,
    pub(crate) times: Option<u64>,
    pub(crate) probability: Option<f64>,
}

impl Rule {
    /// The rule as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its action.
    pub fn action(&self) -> &Action {
        &self.action
    }
}

/// What a command string asks for: new rules, or a recorder command (Citus's fifo protocol).
#[derive(Debug)]
pub enum Command {
    /// Replace the rules (an empty list allows everything).
    SetRules(Vec<Rule>),
    /// `recorder.dump()`: return and clear the recording.
    RecorderDump,
    /// `recorder.reset()`: clear the recording.
    RecorderReset,
}

const FILTERS: &[&str] = &[
    "on<Message>",
    "matches",
    "contains",
    "after",
    "where",
    "fromClient",
    "fromServer",
    "times",
    "sometimes",
];
const ACTIONS: &[&str] = &[
    "allow",
    "kill",
    "reset",
    "killall",
    "stall",
    "drop",
    "cancel",
    "connect_delay",
    "delay",
    "error",
];

/// Parses rules; `recorder.*` commands are refused here.
pub fn compile(source: &str) -> Result<Vec<Rule>, RuleError> {
    match parse_command(source)? {
        Command::SetRules(rules) => Ok(rules),
        Command::RecorderDump | Command::RecorderReset => Err(RuleError::at(
            source,
            0,
            "recorder commands are not rules; use the recording endpoints instead",
        )),
    }
}

/// Parses rules or a recorder command.
pub fn parse_command(source: &str) -> Result<Command, RuleError> {
    let statements = parse(source)?;
    if let Some(first) = statements.first()
        && first.root == "recorder"
    {
        if statements.len() > 1 {
            return Err(RuleError::at(
                source,
                statements[1].start,
                "a recorder command stands alone",
            ));
        }
        return recorder(source, first);
    }
    let mut rules = Vec::new();
    let mut slots = 0;
    for statement in &statements {
        rules.push(rule(source, statement, &mut slots)?);
    }
    Ok(Command::SetRules(rules))
}

fn recorder(source: &str, statement: &Statement) -> Result<Command, RuleError> {
    let call = &statement.calls[0];
    if statement.calls.len() != 1 || !call.args.is_empty() {
        return Err(RuleError::at(
            source,
            call.start,
            "expected `recorder.dump()` or `recorder.reset()`",
        ));
    }
    match call.name.as_str() {
        "dump" => Ok(Command::RecorderDump),
        "reset" => Ok(Command::RecorderReset),
        other => Err(RuleError::at(
            source,
            call.start,
            format!("unknown recorder command `{other}`; expected `dump()` or `reset()`"),
        )),
    }
}

fn rule(source: &str, statement: &Statement, slots: &mut usize) -> Result<Rule, RuleError> {
    if statement.root != "conn" {
        let hint = did_you_mean(&statement.root, ["conn", "recorder"])
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        return Err(RuleError::at(
            source,
            statement.root_start,
            format!(
                "a rule starts with `conn.` (or `recorder.` for the recorder), not `{}`{hint}",
                statement.root
            ),
        ));
    }
    let mut steps = Vec::new();
    let mut times = None;
    let mut probability = None;
    let mut action: Option<(&Call, Action)> = None;
    for call in &statement.calls {
        if let Some((done, _)) = &action {
            return Err(RuleError::at(
                source,
                call.start,
                format!(
                    "`{}()` ends the rule; `.{}(...)` cannot follow it (put filters before the action)",
                    done.name, call.name
                ),
            ));
        }
        if let Some(act) = parse_action(source, call)? {
            action = Some((call, act));
            continue;
        }
        match call.name.as_str() {
            "times" => times = Some(positive_int(source, call, "times")?),
            "sometimes" => probability = Some(probability_arg(source, call)?),
            _ => steps.push(step(source, call, slots)?),
        }
    }
    let Some((_, action)) = action else {
        return Err(RuleError::at(
            source,
            statement.end,
            "the rule ends without an action; add one of .allow(), .kill(), .reset(), .killall(), \
             .stall(), .drop(), .cancel(), .delay(ms), .connect_delay(ms), .error(...)",
        ));
    };
    Ok(Rule {
        text: source[statement.start..statement.end].to_owned(),
        steps,
        action,
        times,
        probability,
    })
}

fn step(source: &str, call: &Call, slots: &mut usize) -> Result<Step, RuleError> {
    let name = call.name.as_str();
    if let Some(message) = name.strip_prefix("on")
        && !message.is_empty()
    {
        return on_message(source, call, message);
    }
    match name {
        "matches" => {
            let pattern = single_pattern(source, call)?;
            Ok(Step::Matches(regex(source, call.args[0].start, &pattern)?))
        }
        "contains" => Ok(Step::Contains(single_bytes(source, call)?)),
        "after" => {
            let n = non_negative_int(source, call, "after")?;
            *slots += 1;
            Ok(Step::After {
                n,
                slot: *slots - 1,
            })
        }
        "where" => {
            if call.args.is_empty() {
                return Err(RuleError::at(
                    source,
                    call.start,
                    "`where(...)` needs at least one `parameter=\"regex\"`, e.g. where(application_name=\"^worker\")",
                ));
            }
            let mut params = Vec::new();
            for arg in &call.args {
                let Some(param) = &arg.name else {
                    return Err(RuleError::at(
                        source,
                        arg.start,
                        "`where` takes `parameter=\"regex\"` arguments, e.g. user=\"^app$\"",
                    ));
                };
                let pattern = string_value(source, arg)?;
                params.push((param.clone(), regex(source, arg.start, &pattern)?));
            }
            Ok(Step::Where(params))
        }
        "fromClient" | "fromServer" => {
            no_args(source, call)?;
            Ok(Step::From(if name == "fromClient" {
                Direction::Frontend
            } else {
                Direction::Backend
            }))
        }
        _ => {
            let all: Vec<&str> = FILTERS.iter().chain(ACTIONS).copied().collect();
            let hint = did_you_mean(name, all.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            Err(RuleError::at(
                source,
                call.start,
                format!(
                    "unknown filter or action `{name}`{hint} (filters: {}; actions: {})",
                    FILTERS.join(", "),
                    ACTIONS.join(", ")
                ),
            ))
        }
    }
}

fn on_message(source: &str, call: &Call, message: &str) -> Result<Step, RuleError> {
    let types = if message.eq_ignore_ascii_case("Authentication") {
        TypeSet::from_iter(
            MessageType::ALL
                .iter()
                .copied()
                .filter(|t| t.is_authentication()),
        )
    } else if let Some(ty) = MessageType::from_name(message).filter(|t| *t != MessageType::Unknown)
    {
        TypeSet::from_iter([ty])
    } else {
        let names = MessageType::ALL.iter().map(|t| t.name());
        let hint = did_you_mean(message, names)
            .map(|s| format!("; did you mean `on{s}`?"))
            .unwrap_or_default();
        return Err(RuleError::at(
            source,
            call.start,
            format!(
                "unknown message type `{message}` in `{}`{hint} (names as in the PostgreSQL protocol docs, e.g. onQuery, onParse, onCommandComplete, onCopyData, onReadyForQuery)",
                call.name
            ),
        ));
    };
    let mut fields = Vec::new();
    for arg in &call.args {
        let Some(name) = &arg.name else {
            return Err(RuleError::at(
                source,
                arg.start,
                format!("`{}` takes `field=\"regex\"` arguments", call.name),
            ));
        };
        let field = types
            .iter()
            .find_map(|t| fields::lookup(t, name))
            .ok_or_else(|| {
                let known: Vec<&str> = types.iter().flat_map(fields::names_for).copied().collect();
                let known = if known.is_empty() {
                    "it has no matchable fields".to_owned()
                } else {
                    format!("known fields: {}", known.join(", "))
                };
                RuleError::at(
                    source,
                    arg.start,
                    format!("`{}` has no field `{name}`; {known}", call.name),
                )
            })?;
        let pattern = string_value(source, arg)?;
        fields.push((field, regex(source, arg.start, &pattern)?));
    }
    Ok(Step::On { types, fields })
}

fn parse_action(source: &str, call: &Call) -> Result<Option<Action>, RuleError> {
    let action = match call.name.as_str() {
        "allow" => simple(source, call, Action::Allow)?,
        "kill" => simple(source, call, Action::Kill)?,
        "reset" => simple(source, call, Action::Reset)?,
        "killall" => simple(source, call, Action::KillAll)?,
        "stall" => simple(source, call, Action::Stall)?,
        "drop" => simple(source, call, Action::Drop)?,
        "cancel" => cancel(source, call)?,
        "connect_delay" => {
            let ms = millis_arg(source, call, &["ms"], true)?.unwrap_or_default();
            only_known(source, call, &["ms"])?;
            Action::ConnectDelay(ms)
        }
        "delay" => {
            let base = millis_arg(source, call, &["ms"], true)?.unwrap_or_default();
            let jitter = millis_arg(source, call, &["jitter"], false)?.unwrap_or_default();
            only_known(source, call, &["ms", "jitter"])?;
            Action::Delay { base, jitter }
        }
        "error" => Action::Error(injected_error(source, call)?),
        _ => return Ok(None),
    };
    Ok(Some(action))
}

fn simple(source: &str, call: &Call, action: Action) -> Result<Action, RuleError> {
    no_args(source, call)?;
    Ok(action)
}

fn cancel(source: &str, call: &Call) -> Result<Action, RuleError> {
    only_known(source, call, &["pid", "delay"])?;
    let pid = call
        .args
        .iter()
        .find(|a| a.name.is_none() || a.name.as_deref() == Some("pid"));
    let delay = call
        .args
        .iter()
        .find(|a| a.name.as_deref() == Some("delay"));
    match (pid, delay) {
        (Some(pid), None) => match pid.value {
            Value::Int(p) if p > 0 && p <= i64::from(i32::MAX) => {
                Ok(Action::CancelSignal { pid: p as i32 })
            }
            _ => Err(RuleError::at(
                source,
                pid.start,
                "cancel(pid) needs a positive process id",
            )),
        },
        (Some(pid), Some(_)) => Err(RuleError::at(
            source,
            pid.start,
            "cancel(pid) signals a local process; cancel(delay=ms) sends a protocol CancelRequest; not both",
        )),
        (None, _) => {
            let delay =
                millis_arg(source, call, &["delay"], false)?.unwrap_or(Duration::from_millis(100));
            Ok(Action::CancelQuery { delay })
        }
    }
}

fn injected_error(source: &str, call: &Call) -> Result<InjectedError, RuleError> {
    only_known(
        source,
        call,
        &["code", "message", "severity", "detail", "hint"],
    )?;
    let mut error = InjectedError {
        severity: "ERROR".into(),
        code: "XX000".into(),
        message: "error injected by the pgkeel proxy".into(),
        detail: None,
        hint: None,
    };
    for (i, arg) in call.args.iter().enumerate() {
        let key = match (&arg.name, i) {
            (Some(name), _) => name.as_str(),
            (None, 0) => "code",
            (None, _) => {
                return Err(RuleError::at(
                    source,
                    arg.start,
                    "error(...) takes code=, message=, severity=, detail=, hint=",
                ));
            }
        };
        let value = string_value(source, arg)?;
        match key {
            "code" => {
                if value.len() != 5
                    || !value
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                {
                    return Err(RuleError::at(
                        source,
                        arg.start,
                        format!(
                            "`{value}` is not a SQLSTATE (five digits or capital letters, e.g. 40001)"
                        ),
                    ));
                }
                error.code = value;
            }
            "severity" => {
                let upper = value.to_ascii_uppercase();
                if !matches!(upper.as_str(), "ERROR" | "FATAL" | "PANIC") {
                    return Err(RuleError::at(
                        source,
                        arg.start,
                        format!("severity `{value}` must be ERROR, FATAL or PANIC"),
                    ));
                }
                error.severity = upper;
            }
            "message" => error.message = value,
            "detail" => error.detail = Some(value),
            _ => error.hint = Some(value),
        }
        if [&error.message, &error.code]
            .iter()
            .any(|s| s.contains('\0'))
        {
            return Err(RuleError::at(
                source,
                arg.start,
                "error fields cannot contain NUL bytes",
            ));
        }
    }
    Ok(error)
}

fn no_args(source: &str, call: &Call) -> Result<(), RuleError> {
    match call.args.first() {
        Some(arg) => Err(RuleError::at(
            source,
            arg.start,
            format!("`{}()` takes no arguments", call.name),
        )),
        None => Ok(()),
    }
}

fn only_known(source: &str, call: &Call, known: &[&str]) -> Result<(), RuleError> {
    for arg in &call.args {
        if let Some(name) = &arg.name
            && !known.contains(&name.as_str())
        {
            return Err(RuleError::at(
                source,
                arg.start,
                format!(
                    "`{}` has no argument `{name}`; it takes: {}",
                    call.name,
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A duration in milliseconds: the first positional argument (if `positional`) or one of `names`.
fn millis_arg(
    source: &str,
    call: &Call,
    names: &[&str],
    positional: bool,
) -> Result<Option<Duration>, RuleError> {
    let arg = call.args.iter().enumerate().find(|(i, a)| match &a.name {
        Some(n) => names.contains(&n.as_str()),
        None => positional && *i == 0,
    });
    let Some((_, arg)) = arg else {
        return Ok(None);
    };
    let ms = match arg.value {
        Value::Int(v) if v >= 0 => v as f64,
        Value::Float(v) if v >= 0.0 && v.is_finite() => v,
        _ => {
            return Err(RuleError::at(
                source,
                arg.start,
                format!(
                    "`{}` needs a non-negative number of milliseconds, got {}",
                    call.name,
                    arg.value.describe()
                ),
            ));
        }
    };
    if ms > 86_400_000.0 {
        return Err(RuleError::at(
            source,
            arg.start,
            "delays above one day are not allowed",
        ));
    }
    Ok(Some(Duration::from_secs_f64(ms / 1000.0)))
}

fn single(source: &str, call: &Call) -> Result<Arg, RuleError> {
    match call.args.as_slice() {
        [arg] => Ok(arg.clone()),
        _ => Err(RuleError::at(
            source,
            call.start,
            format!("`{}` takes exactly one argument", call.name),
        )),
    }
}

fn non_negative_int(source: &str, call: &Call, what: &str) -> Result<u64, RuleError> {
    let arg = single(source, call)?;
    match arg.value {
        Value::Int(v) if v >= 0 => Ok(v as u64),
        _ => Err(RuleError::at(
            source,
            arg.start,
            format!(
                "`{what}(n)` needs a whole number >= 0, got {}",
                arg.value.describe()
            ),
        )),
    }
}

fn positive_int(source: &str, call: &Call, what: &str) -> Result<u64, RuleError> {
    let arg = single(source, call)?;
    match arg.value {
        Value::Int(v) if v > 0 => Ok(v as u64),
        _ => Err(RuleError::at(
            source,
            arg.start,
            format!(
                "`{what}(n)` needs a whole number >= 1, got {}",
                arg.value.describe()
            ),
        )),
    }
}

fn probability_arg(source: &str, call: &Call) -> Result<f64, RuleError> {
    let arg = single(source, call)?;
    let p = match arg.value {
        Value::Int(v) => v as f64,
        Value::Float(v) => v,
        _ => f64::NAN,
    };
    if !(0.0..=1.0).contains(&p) {
        return Err(RuleError::at(
            source,
            arg.start,
            "`sometimes(p)` needs a probability between 0 and 1",
        ));
    }
    Ok(p)
}

fn string_value(source: &str, arg: &Arg) -> Result<String, RuleError> {
    match &arg.value {
        Value::Str(s) => Ok(s.clone()),
        Value::Bytes(b) => String::from_utf8(b.clone()).map_err(|_| {
            RuleError::at(
                source,
                arg.start,
                "expected a string, got bytes that are not UTF-8",
            )
        }),
        other => Err(RuleError::at(
            source,
            arg.start,
            format!("expected a string, got {}", other.describe()),
        )),
    }
}

fn single_pattern(source: &str, call: &Call) -> Result<String, RuleError> {
    let arg = single(source, call)?;
    match &arg.value {
        Value::Bytes(b) => {
            // A bytes regex may contain non-UTF-8 bytes; encode them as \xHH escapes.
            Ok(b.iter().fold(String::new(), |mut s, byte| {
                if byte.is_ascii() {
                    s.push(*byte as char);
                } else {
                    s.push_str(&format!("\\x{byte:02x}"));
                }
                s
            }))
        }
        _ => string_value(source, &arg),
    }
}

fn single_bytes(source: &str, call: &Call) -> Result<Vec<u8>, RuleError> {
    let arg = single(source, call)?;
    match &arg.value {
        Value::Bytes(b) if !b.is_empty() => Ok(b.clone()),
        Value::Str(s) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
        _ => Err(RuleError::at(
            source,
            arg.start,
            "`contains` needs a non-empty b\"...\" or \"...\"",
        )),
    }
}

fn regex(source: &str, at: usize, pattern: &str) -> Result<Regex, RuleError> {
    regex::bytes::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let detail = e.to_string().lines().last().unwrap_or("").trim().to_owned();
            RuleError::at(source, at, format!("invalid regex `{pattern}`: {detail}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        compile(text).unwrap_err().to_string()
    }

    #[test]
    fn every_citus_shape_compiles() {
        for text in [
            "conn.allow()",
            r#"conn.onQuery(query="^COMMIT").kill()"#,
            r#"conn.onQuery(query="^BEGIN").cancel(4242)"#,
            r#"conn.onQuery(query="FROM STDIN WITH").killall()"#,
            r#"conn.onQuery(query="^SELECT count").after(1).kill()"#,
            r#"conn.onQuery(query="^SELECT").after(1).reset()"#,
            r#"conn.after(1).onQuery(query="BEGIN").kill()"#,
            r#"conn.onCommandComplete(command="^COMMIT").kill()"#,
            "conn.onAuthenticationOk().kill()",
            "conn.onCopyData().kill()",
            "conn.connect_delay(1400)",
            "conn.delay(500)",
            r#"conn.onParse(query="^WITH distributed_object_data").kill()"#,
            "conn.onQuery().kill()",
            "conn.kill()",
            "conn.killall()",
            "conn.cancel(4242)",
            r#"conn.matches(b"CREATE INDEX").killall()"#,
            r#"conn.contains(b"UPDATE").kill()"#,
            r#"conn.onQuery(query="SELECT min\(key\), max\(key\)").kill()"#,
        ] {
            compile(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn extensions_compile() {
        let rules = compile(
            r#"conn.where(application_name="^worker").onReadyForQuery(status="T").sometimes(0.5).times(3).error(code="40001", message="retry me");
               conn.fromServer().onErrorResponse(code="^57").stall();
               conn.onQuery(query="pg_sleep").cancel();
               conn.onExecute().delay(10, jitter=5)"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].times, Some(3));
        assert_eq!(rules[0].probability, Some(0.5));
        assert!(matches!(&rules[0].action, Action::Error(e) if e.code == "40001" && !e.is_fatal()));
        assert!(matches!(rules[2].action, Action::CancelQuery { .. }));
        assert!(rules[3].text.starts_with("conn.onExecute()"));
    }

    #[test]
    fn mistakes_name_the_fix() {
        assert!(err("conn.onQeury().kill()").contains("did you mean `onQuery`"));
        assert!(err("conn.onQuery(qeury=\"x\").kill()").contains("known fields: query"));
        assert!(err("conn.onQuery()").contains("ends without an action"));
        assert!(err("conn.kill().onQuery()").contains("cannot follow"));
        assert!(err("conn.onQuery(query=\"(\").kill()").contains("invalid regex"));
        assert!(
            err("conn.after(-1).kill()").contains("expected a value")
                || err("conn.after(-1).kill()").contains("unexpected")
        );
        assert!(err("con.kill()").contains("did you mean `conn`"));
        assert!(err("conn.error(code=\"4001\")").contains("SQLSTATE"));
        assert!(err("conn.error(severity=\"warning\")").contains("ERROR, FATAL or PANIC"));
        assert!(err("conn.sometimes(2).kill()").contains("between 0 and 1"));
        assert!(err("conn.kil()").contains("did you mean `kill`"));
        assert!(err("recorder.dump()").contains("not rules"));
    }

    #[test]
    fn recorder_commands() {
        assert!(matches!(
            parse_command("recorder.dump()").unwrap(),
            Command::RecorderDump
        ));
        assert!(matches!(
            parse_command("recorder.reset()\n").unwrap(),
            Command::RecorderReset
        ));
        assert!(parse_command("recorder.dump(); conn.allow()").is_err());
    }
}
