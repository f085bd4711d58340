//! `pgkeel proxy`: the fault-injection proxy in front of a PostgreSQL server, with the HTTP
//! control API and Citus's fifo protocol. Runs until SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use pgkeel_proxy::{Address, ControlToken, Proxy, ProxyConfig, TlsMode};
use tokio_util::sync::CancellationToken;

/// Default address of the control API (and of `pgkeel fault`).
pub(crate) const DEFAULT_CONTROL: &str = "127.0.0.1:7432";

/// Run the fault-injection proxy in front of a PostgreSQL server.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run the fault-injection proxy in front of a PostgreSQL server.\n\n\
        Every message in both directions passes the rule engine, which can kill, reset, stall, \
        delay, drop or cancel, or answer with an injected error. Rules use the language of \
        Citus's failure tests (conn.onQuery(query=\"^COMMIT\").kill()) plus extensions; see \
        docs/proxy-rules.md. Change them at any time with `pgkeel fault`, the HTTP API \
        (PUT /rules) or the fifo.\n\n\
        stdout gets two lines for scripts: PGKEEL_PROXY=<listen address> and \
        PGKEEL_CONTROL=<control address>.\n\n\
        The control API answers only local tools (403 for a foreign Host or a web page's \
        Origin). With --control-token (or PGKEEL_CONTROL_TOKEN) every request must carry \
        `Authorization: Bearer <token>` (401 otherwise); a non-loopback --control-listen needs \
        both --control-allow-remote and a token.",
    after_help = "Examples:\n  \
        pgkeel proxy --upstream 127.0.0.1:5432 --listen 127.0.0.1:6432\n  \
        pgkeel fault 'conn.onQuery(query=\"^COMMIT\").kill()'      # in another shell\n  \
        pgkeel proxy --upstream /var/run/postgresql/.s.PGSQL.5432 --listen /tmp/p/.s.PGSQL.6432\n  \
        pgkeel proxy --upstream 127.0.0.1:5432 --rules 'conn.onQuery().delay(50)' --control-listen none\n  \
        PGKEEL_CONTROL_TOKEN=$(openssl rand -hex 32) pgkeel proxy --upstream 127.0.0.1:5432 \
        --control-listen 0.0.0.0:7432 --control-allow-remote"
)]
pub(crate) struct ProxyArgs {
    /// The PostgreSQL server: host:port or a unix socket path (/dir/.s.PGSQL.5432).
    #[arg(long, value_name = "ADDR")]
    upstream: Address,

    /// Where clients connect: host:port (port 0 = any free port) or a unix socket path.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: Address,

    /// HTTP control API address, or `none`. Loopback only unless --control-allow-remote (which
    /// needs --control-token).
    #[arg(
        long,
        visible_alias = "control",
        value_name = "ADDR|none",
        default_value = DEFAULT_CONTROL
    )]
    control_listen: String,

    /// Allow the control API on a non-loopback address (anyone who reaches it can kill your
    /// connections): requires --control-token. A Host naming the listen address (any IP
    /// literal when listening on 0.0.0.0 or ::) is then accepted too.
    #[arg(long)]
    control_allow_remote: bool,

    /// Require `Authorization: Bearer TOKEN` on every control request (401 otherwise);
    /// `pgkeel fault` sends it from its --control-token or PGKEEL_CONTROL_TOKEN. Prefer the
    /// environment variable: a command line is visible to every user of the machine.
    #[arg(
        long,
        env = "PGKEEL_CONTROL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    control_token: Option<String>,

    /// Also accept commands on this fifo (Citus's protocol; created if missing).
    #[arg(long, value_name = "PATH")]
    fifo: Option<PathBuf>,

    /// Seed for sometimes(p) and delay jitter: same seed, same choices per connection.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// SSLRequest handling: refuse (answer N; clients fall back to plaintext and rules see
    /// every message) or passthrough (encrypted stream forwarded; only connection-level rules).
    #[arg(long, value_enum, default_value_t = TlsArg::Refuse)]
    tls: TlsArg,

    /// Rules in force from the start.
    #[arg(long, value_name = "RULES")]
    rules: Option<String>,

    /// Messages kept in the recording (0 turns recording off).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    record: usize,

    /// Worker threads for the proxy (1 = a single-threaded event loop, the default: on a small
    /// machine it leaves the cores to the clients and the server).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub(crate) threads: u16,

    /// Largest protocol message accepted, in bytes; larger ones close the connection.
    #[arg(long, value_name = "BYTES", default_value_t = pgkeel_wire_max())]
    max_message_bytes: u32,
}

fn pgkeel_wire_max() -> u32 {
    (1 << 30) - 1
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TlsArg {
    Refuse,
    Passthrough,
}

pub(crate) async fn run(args: ProxyArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let control = match args.control_listen.as_str() {
        "none" | "" => None,
        text => {
            let addr: SocketAddr = text.parse().with_context(|| {
                format!(
                    "--control-listen `{text}` is not host:port (e.g. 127.0.0.1:7432) or `none`"
                )
            })?;
            if !addr.ip().is_loopback() && !args.control_allow_remote {
                bail!(
                    "--control-listen {addr} is not a loopback address; add --control-allow-remote \
                     (and a token: --control-token or PGKEEL_CONTROL_TOKEN) if you mean it"
                );
            }
            if !addr.ip().is_loopback() && args.control_token.is_none() {
                bail!(
                    "--control-allow-remote requires a token: set PGKEEL_CONTROL_TOKEN (or \
                     --control-token TOKEN), e.g. PGKEEL_CONTROL_TOKEN=$(openssl rand -hex 32); \
                     clients send it as `Authorization: Bearer <token>`"
                );
            }
            Some(addr)
        }
    };
    let control_token = args
        .control_token
        .map(ControlToken::new)
        .transpose()
        .context("--control-token / PGKEEL_CONTROL_TOKEN")?;
    let mut config = ProxyConfig::new(args.upstream.clone());
    config.listen = args.listen;
    config.control = control;
    config.control_token = control_token;
    config.control_allow_remote = args.control_allow_remote;
    config.fifo = args.fifo;
    config.seed = args.seed;
    config.tls = match args.tls {
        TlsArg::Refuse => TlsMode::Refuse,
        TlsArg::Passthrough => TlsMode::Passthrough,
    };
    config.record = args.record;
    config.max_message_len = args.max_message_bytes;
    config.rules = args.rules;
    let proxy = Proxy::start(config)
        .await
        .context("cannot start the proxy")?;
    let listen = proxy.listen_addr().to_string();
    let control_text = proxy
        .control_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "none".into());
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "PGKEEL_PROXY={listen}")
            .and_then(|()| writeln!(out, "PGKEEL_CONTROL={control_text}"))
            .and_then(|()| out.flush())
            .context("write the addresses to stdout")?;
    }
    eprintln!(
        "pgkeel: proxy on {listen} -> {} (control API: {control_text}); rules version {}; Ctrl-C stops it",
        args.upstream,
        proxy.rules().version()
    );
    shutdown.cancelled().await;
    proxy.shutdown().await;
    eprintln!("pgkeel: proxy stopped");
    Ok(ExitCode::SUCCESS)
}
