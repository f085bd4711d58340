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
        PGKEEL_CONTROL=<control address> (with --tls terminate and a generated certificate, \
        a third: PGSSLROOTCERT=<the CA to trust>).\n\n\
        TLS: `refuse` (default) answers SSLRequest with N, so clients with sslmode=prefer talk \
        plaintext and rules see everything; `passthrough` forwards the encrypted stream (only \
        connection-level rules); `terminate` completes TLS with the client itself (--tls-cert \
        and --tls-key, or a certificate generated at start for localhost/127.0.0.1/::1) and \
        connects upstream with --upstream-sslmode, so clients keep sslmode=require or \
        verify-full and every rule still sees every message.\n\n\
        The control API answers only local tools (403 for a foreign Host or a web page's \
        Origin). With --control-token (or PGKEEL_CONTROL_TOKEN) every request must carry \
        `Authorization: Bearer <token>` (401 otherwise); a non-loopback --control-listen needs \
        both --control-allow-remote and a token.",
    after_help = "Examples:\n  \
        pgkeel proxy --upstream 127.0.0.1:5432 --listen 127.0.0.1:6432\n  \
        pgkeel fault 'conn.onQuery(query=\"^COMMIT\").kill()'      # in another shell\n  \
        pgkeel proxy --upstream /var/run/postgresql/.s.PGSQL.5432 --listen /tmp/p/.s.PGSQL.6432\n  \
        pgkeel proxy --upstream 127.0.0.1:5432 --rules 'conn.onQuery().delay(50)' --control-listen none\n  \
        pgkeel proxy --upstream db:5432 --tls terminate --upstream-sslmode verify-full --upstream-sslrootcert ca.crt\n  \
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
    /// every message), passthrough (encrypted stream forwarded; only connection-level rules) or
    /// terminate (TLS with the client here, upstream per --upstream-sslmode; every rule).
    #[arg(long, value_enum, default_value_t = TlsArg::Refuse)]
    tls: TlsArg,

    /// With --tls terminate: the certificate (PEM chain) presented to clients [default: one
    /// generated at start, for localhost, 127.0.0.1 and ::1, whose CA path is printed].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// With --tls terminate: the private key of --tls-cert (PEM, unencrypted).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// With --tls terminate: sslmode of the proxy's own connections to the server (libpq's
    /// disable, allow, prefer, require, verify-ca, verify-full).
    #[arg(long, value_name = "MODE", default_value = "prefer")]
    upstream_sslmode: String,

    /// With --tls terminate: the CA file (or `system`) the server's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    upstream_sslrootcert: Option<String>,

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
    Terminate,
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
    let (terminate, generated_ca) = if let TlsArg::Terminate = args.tls {
        let (terminate, ca) = terminate_settings(&args)?;
        (Some(terminate), ca)
    } else if args.tls_cert.is_some() || args.upstream_sslrootcert.is_some() {
        bail!("--tls-cert and --upstream-sslrootcert only apply with --tls terminate");
    } else {
        (None, None)
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
        TlsArg::Terminate => TlsMode::Terminate,
    };
    config.terminate = terminate;
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
            .and_then(|()| match &generated_ca {
                Some(ca) => writeln!(out, "PGSSLROOTCERT={}", ca.display()),
                None => Ok(()),
            })
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
    if let Some(ca) = &generated_ca {
        let _ = std::fs::remove_file(ca);
    }
    eprintln!("pgkeel: proxy stopped");
    Ok(ExitCode::SUCCESS)
}

/// The two TLS sides of `--tls terminate`, and the path of the CA file when the certificate
/// was generated (clients trust it with sslrootcert / PGSSLROOTCERT).
fn terminate_settings(
    args: &ProxyArgs,
) -> anyhow::Result<(pgkeel_proxy::Terminate, Option<PathBuf>)> {
    use pgkeel_net::tls::{CertificateAuthority, LOCAL_NAMES, ServerTls};

    let mut upstream = vec![("sslmode", args.upstream_sslmode.as_str())];
    if let Some(root) = &args.upstream_sslrootcert {
        upstream.push(("sslrootcert", root.as_str()));
    }
    let upstream = pgkeel_net::ClientTls::from_settings(&upstream)
        .context("--upstream-sslmode / --upstream-sslrootcert")?;
    let (server, ca_path) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (
            ServerTls::from_files(cert, key).context("--tls-cert / --tls-key")?,
            None,
        ),
        _ => {
            let ca = CertificateAuthority::generate("pgkeel proxy CA")?;
            let mut names: Vec<&str> = LOCAL_NAMES.to_vec();
            let listen_host = match &args.listen {
                Address::Tcp { host, .. } => Some(host.as_str()),
                Address::Unix(_) => None,
            };
            if let Some(host) = listen_host.filter(|h| !names.contains(h) && !h.is_empty()) {
                names.push(host);
            }
            let pair = ca.server(&names)?;
            let path =
                std::env::temp_dir().join(format!("pgkeel-proxy-{}-ca.crt", std::process::id()));
            std::fs::write(&path, ca.cert_pem())
                .with_context(|| format!("write the generated CA to {}", path.display()))?;
            (ServerTls::from_pem(&pair)?, Some(path))
        }
    };
    Ok((pgkeel_proxy::Terminate { server, upstream }, ca_path))
}
