//! `pgkeel fault`: the command-line client of a running proxy's control API — set rules, show
//! them, wait for one to fire, dump the recording, list connections.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::args::parse_duration;
use crate::cmd::proxy::DEFAULT_CONTROL;
use crate::http_client::{Response, request};

/// Change or inspect the rules of a running `pgkeel proxy`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Change or inspect the rules of a running `pgkeel proxy`.\n\n\
        With RULES, puts them in force (replacing the previous ones) and prints the new version; \
        a rule string that does not parse is rejected with its position, the previous rules stay \
        in force, and the exit code is 1. With no RULES and no other option, shows the rules in \
        force and how often each fired. `-` reads RULES from stdin; an empty string removes all \
        rules.",
    after_help = "Rules (see docs/proxy-rules.md):\n  \
        conn.onQuery(query=\"^COMMIT\").kill()             close both sides instead of forwarding\n  \
        conn.onParse(query=\"^UPDATE\").error(code=\"40001\")  the client sees SQLSTATE 40001\n  \
        conn.onQuery(query=\"pg_sleep\").cancel()          a real CancelRequest 100 ms later\n  \
        conn.fromServer().stall()                        blackhole until the rules change\n  \
        conn.onQuery().sometimes(0.1).reset()            TCP RST on 10% of queries\n  \
        conn.allow()                                     no faults\n\n\
        Examples:\n  \
        pgkeel fault 'conn.onQuery(query=\"^COMMIT\").kill()'\n  \
        pgkeel fault --wait-fired 10s && echo fired\n  \
        pgkeel fault --dump --json | jq .\n  \
        pgkeel fault --connections"
)]
pub(crate) struct FaultArgs {
    /// Rules to put in force (`-` = read from stdin).
    #[arg(value_name = "RULES")]
    rules: Option<String>,

    /// Control API of the proxy.
    #[arg(long, env = "PGKEEL_CONTROL", default_value = DEFAULT_CONTROL, value_name = "ADDR")]
    control: String,

    /// Token of a proxy started with --control-token (sent as `Authorization: Bearer`).
    #[arg(
        long,
        env = "PGKEEL_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    control_token: Option<String>,

    /// Print the recording (oldest first).
    #[arg(long)]
    dump: bool,

    /// Clear the recording.
    #[arg(long)]
    reset_recording: bool,

    /// List open connections.
    #[arg(long)]
    connections: bool,

    /// Close one connection by id (see --connections).
    #[arg(long, value_name = "ID")]
    kill_connection: Option<u64>,

    /// Wait until a rule has fired (any rule, or --rule), up to this long (e.g. 5s, 500ms).
    #[arg(long, value_name = "TIMEOUT", value_parser = parse_duration)]
    wait_fired: Option<Duration>,

    /// With --wait-fired: the rule index to wait for.
    #[arg(long, value_name = "INDEX")]
    rule: Option<usize>,

    /// With --wait-fired: how many firings to wait for.
    #[arg(long, value_name = "N", default_value_t = 1)]
    min: u64,

    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: FaultArgs, _shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let api = Api {
        addr: args.control.as_str(),
        token: args.control_token.as_deref(),
    };
    let api = &api;
    let mut did_something = false;
    if let Some(rules) = &args.rules {
        did_something = true;
        let text = if rules == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("read rules from stdin")?;
            text
        } else {
            rules.clone()
        };
        let response = call(api, "PUT", "/rules", &text).await?;
        let body: Value = parse(&response.body)?;
        if response.status != 200 {
            eprintln!(
                "pgkeel: rules rejected; the previous rules (version {}) stay in force:",
                body["version"]
            );
            print_error_position(&text, &body);
            return Ok(ExitCode::FAILURE);
        }
        if args.json {
            println_out(&body.to_string())?;
        } else {
            println_out(&format!("rules version {} in force", body["version"]))?;
        }
    }
    if args.reset_recording {
        did_something = true;
        let response = call(api, "DELETE", "/recording", "").await?;
        expect_ok(&response.status, &response.body)?;
    }
    if let Some(id) = args.kill_connection {
        did_something = true;
        let response = call(api, "DELETE", &format!("/connections/{id}"), "").await?;
        if response.status == 404 {
            bail!("no open connection {id} (see `pgkeel fault --connections`)");
        }
        expect_ok(&response.status, &response.body)?;
    }
    if args.connections {
        did_something = true;
        let response = call(api, "GET", "/connections", "").await?;
        expect_ok(&response.status, &response.body)?;
        let list: Value = parse(&response.body)?;
        if args.json {
            println_out(&list.to_string())?;
        } else {
            print_connections(&list)?;
        }
    }
    if args.dump {
        did_something = true;
        let response = call(api, "GET", "/recording?format=jsonl", "").await?;
        expect_ok(&response.status, &response.body)?;
        if args.json {
            print_raw(&response.body)?;
        } else {
            print_recording(&response.body)?;
        }
    }
    if let Some(timeout) = args.wait_fired {
        did_something = true;
        let rule = args.rule.map(|r| format!("&rule={r}")).unwrap_or_default();
        let path = format!(
            "/rules/fired?min={}&timeout_ms={}{rule}",
            args.min,
            timeout.as_millis()
        );
        let response = call(api, "GET", &path, "").await?;
        let body: Value = parse(&response.body)?;
        if response.status != 200 {
            eprintln!("pgkeel: {}", body["error"].as_str().unwrap_or("timed out"));
            return Ok(ExitCode::FAILURE);
        }
        println_out(&format!("fired {} time(s)", body["fired"]))?;
    }
    if !did_something {
        let response = call(api, "GET", "/rules", "").await?;
        expect_ok(&response.status, &response.body)?;
        let body: Value = parse(&response.body)?;
        if args.json {
            println_out(&body.to_string())?;
        } else {
            print_rules(&body)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The control API and how to authenticate to it.
struct Api<'a> {
    addr: &'a str,
    token: Option<&'a str>,
}

/// One request; a refusal (403 foreign Host, 401 token) is an error naming the fix.
async fn call(api: &Api<'_>, method: &str, path: &str, body: &str) -> anyhow::Result<Response> {
    let response = request(api.addr, api.token, method, path, body).await?;
    if response.status == 401 || response.status == 403 {
        let why = serde_json::from_str::<Value>(&response.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| response.body.trim().to_owned());
        let hint = match (response.status, api.token) {
            (401, None) => "; set --control-token or PGKEEL_CONTROL_TOKEN to the proxy's token",
            (401, Some(_)) => {
                "; --control-token / PGKEEL_CONTROL_TOKEN must be the token the proxy was started with"
            }
            _ => "",
        };
        bail!(
            "the control API at {} refused the request ({}): {why}{hint}",
            api.addr,
            response.status
        );
    }
    Ok(response)
}

fn parse(body: &str) -> anyhow::Result<Value> {
    serde_json::from_str(body)
        .with_context(|| format!("unexpected answer from the control API: {body}"))
}

fn expect_ok(status: &u16, body: &str) -> anyhow::Result<()> {
    if (200..300).contains(status) {
        Ok(())
    } else {
        bail!("the control API answered {status}: {}", body.trim())
    }
}

fn println_out(line: &str) -> anyhow::Result<()> {
    print_raw(&format!("{line}\n"))
}

fn print_raw(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("write to stdout")
}

fn print_error_position(text: &str, body: &Value) {
    let line = body["line"].as_u64().unwrap_or(1) as usize;
    let column = body["column"].as_u64().unwrap_or(1) as usize;
    if let Some(source) = text.lines().nth(line.saturating_sub(1)) {
        eprintln!("  {source}");
        eprintln!("  {}^", " ".repeat(column.saturating_sub(1)));
    }
    eprintln!("{}", body["error"].as_str().unwrap_or("unknown error"));
}

fn print_rules(body: &Value) -> anyhow::Result<()> {
    let mut out = format!("rules version {}", body["version"]);
    if body["killing_all"].as_bool() == Some(true) {
        out.push_str(" (killall fired: every connection is being killed)");
    }
    out.push('\n');
    let rules = body["rules"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        out.push_str("no rules: everything is forwarded\n");
    }
    for rule in rules {
        out.push_str(&format!(
            "  [{}] fired {:>6}  {}\n",
            rule["index"].as_u64().unwrap_or(0),
            rule["fired"].as_u64().unwrap_or(0),
            rule["rule"].as_str().unwrap_or("")
        ));
    }
    print_raw(&out)
}

fn print_connections(list: &Value) -> anyhow::Result<()> {
    let mut out = format!(
        "{:>5}  {:<21} {:<12} {:<16} {:<16} {:>8} {:>12} {:>12}  {}\n",
        "id",
        "client",
        "user",
        "database",
        "application",
        "pid",
        "from client",
        "from server",
        "state"
    );
    for c in list.as_array().cloned().unwrap_or_default() {
        let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
        out.push_str(&format!(
            "{:>5}  {:<21} {:<12} {:<16} {:<16} {:>8} {:>12} {:>12}  {}\n",
            c["id"].as_u64().unwrap_or(0),
            text(&c["client"]),
            text(&c["user"]),
            text(&c["database"]),
            text(&c["application_name"]),
            c["backend_pid"]
                .as_i64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            c["bytes_from_client"].as_u64().unwrap_or(0),
            c["bytes_from_server"].as_u64().unwrap_or(0),
            if c["stalled"].as_bool() == Some(true) {
                "stalled"
            } else if c["tls"].as_bool() == Some(true) {
                "tls"
            } else {
                "open"
            }
        ));
    }
    print_raw(&out)
}

fn print_recording(jsonl: &str) -> anyhow::Result<()> {
    let mut out = format!(
        "{:>7} {:>5} {:>11} {:<6} {:<24} {:>7}  {:<14} {}\n",
        "seq", "conn", "at ms", "from", "message", "bytes", "rule", "summary"
    );
    for line in jsonl.lines() {
        let Ok(r) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fired = match (r["rule"].as_u64(), r["action"].as_str()) {
            (Some(i), Some(a)) => format!("[{i}] {a}"),
            (None, Some(a)) => a.to_owned(),
            _ => String::new(),
        };
        let mut summary = r["summary"].as_str().unwrap_or("").replace('\n', " ");
        if summary.chars().count() > 80 {
            summary = summary.chars().take(79).collect::<String>() + "…";
        }
        out.push_str(&format!(
            "{:>7} {:>5} {:>11.3} {:<6} {:<24} {:>7}  {:<14} {}\n",
            r["seq"].as_u64().unwrap_or(0),
            r["conn"].as_u64().unwrap_or(0),
            r["at_us"].as_f64().unwrap_or(0.0) / 1000.0,
            r["from"].as_str().unwrap_or(""),
            r["message"].as_str().unwrap_or(""),
            r["len"].as_u64().unwrap_or(0),
            fired,
            summary
        ));
    }
    print_raw(&out)
}
