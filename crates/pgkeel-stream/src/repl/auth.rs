//! Authentication after the startup message: trust, cleartext password, MD5 and SCRAM-SHA-256
//! (without channel binding, as there is no TLS). Kerberos, GSSAPI and SSPI are refused.

use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};

use crate::repl::db_error::{DbError, log_notice};
use crate::repl::error::ReplError;
use crate::repl::transport::Transport;

const OK: i32 = 0;
const CLEARTEXT: i32 = 3;
const MD5: i32 = 5;
const SASL: i32 = 10;
const SASL_CONTINUE: i32 = 11;
const SASL_FINAL: i32 = 12;

/// Answers the server's authentication requests until AuthenticationOk.
pub(crate) async fn authenticate(
    transport: &mut Transport,
    user: &str,
    password: Option<&[u8]>,
) -> Result<(), ReplError> {
    let what = format!("authenticating as {user:?}");
    let mut scram: Option<ScramSha256> = None;
    loop {
        let frame = transport.read_frame(&what).await?;
        let frame = frame.as_ref();
        let context = || transport.context(&what);
        match frame.tag() {
            Some(b'R') => {}
            Some(b'E') => {
                return Err(match DbError::parse(frame) {
                    Some(db) => ReplError::server(context(), db),
                    None => ReplError::protocol(context(), "malformed ErrorResponse"),
                });
            }
            Some(b'N') => {
                log_notice(transport.peer(), frame);
                continue;
            }
            other => {
                return Err(ReplError::protocol(
                    context(),
                    format!("unexpected message {other:?} during authentication"),
                ));
            }
        }
        let malformed = |_| ReplError::protocol(context(), "malformed authentication request");
        let request = frame.authentication().map_err(malformed)?;
        let code = request.code().map_err(malformed)?;
        let data = request.data().map_err(malformed)?;
        let reply = match code {
            OK => return Ok(()),
            CLEARTEXT => {
                let password = need_password(password, "a cleartext password", &context)?;
                let mut body = password.to_vec();
                body.push(0);
                body
            }
            MD5 => {
                let password = need_password(password, "an MD5 password", &context)?;
                let salt: [u8; 4] = data
                    .try_into()
                    .map_err(|_| ReplError::protocol(context(), "MD5 salt is not 4 bytes"))?;
                let mut body = md5_hash(user.as_bytes(), password, salt).into_bytes();
                body.push(0);
                body
            }
            SASL => {
                let password = need_password(password, "a SCRAM-SHA-256 password", &context)?;
                let mechanisms = request.sasl_mechanisms().map_err(malformed)?;
                if !mechanisms.contains(&SCRAM_SHA_256.as_bytes()) {
                    let offered: Vec<_> = mechanisms
                        .iter()
                        .map(|m| String::from_utf8_lossy(m).into_owned())
                        .collect();
                    return Err(ReplError::auth(
                        context(),
                        format!(
                            "the server offers SASL mechanisms {offered:?} but not SCRAM-SHA-256 \
                             (SCRAM-SHA-256-PLUS needs TLS, which this client does not speak)"
                        ),
                    ));
                }
                let client = ScramSha256::new(password, ChannelBinding::unsupported());
                let first = client.message();
                let mut body = SCRAM_SHA_256.as_bytes().to_vec();
                body.push(0);
                body.extend_from_slice(&(first.len() as i32).to_be_bytes());
                body.extend_from_slice(first);
                scram = Some(client);
                body
            }
            SASL_CONTINUE => {
                let client = scram.as_mut().ok_or_else(|| {
                    ReplError::protocol(context(), "SASL continue before SASL started")
                })?;
                client
                    .update(data)
                    .map_err(|e| ReplError::protocol(context(), format!("SCRAM: {e}")))?;
                client.message().to_vec()
            }
            SASL_FINAL => {
                let client = scram.as_mut().ok_or_else(|| {
                    ReplError::protocol(context(), "SASL final before SASL started")
                })?;
                client.finish(data).map_err(|e| {
                    ReplError::auth(
                        context(),
                        format!(
                            "the server's SCRAM signature does not verify ({e}); it may not be \
                             the server you meant to reach"
                        ),
                    )
                })?;
                continue;
            }
            other => {
                return Err(ReplError::auth(
                    context(),
                    format!(
                        "the server asks for authentication method {other} ({}), which this \
                         client does not support; use password, md5 or scram-sha-256 in \
                         pg_hba.conf",
                        method_name(other)
                    ),
                ));
            }
        };
        let message = pgkeel_wire::encode::tagged(b'p', &reply)
            .map_err(|e| ReplError::invalid(format!("password message: {e}")))?;
        transport.send(&message, &what).await?;
    }
}

fn need_password<'a>(
    password: Option<&'a [u8]>,
    kind: &str,
    context: &dyn Fn() -> String,
) -> Result<&'a [u8], ReplError> {
    match password {
        Some(p) if p.contains(&0) => Err(ReplError::invalid("the password contains a NUL byte")),
        Some(p) => Ok(p),
        None => Err(ReplError::auth(
            context(),
            format!(
                "the server requires {kind} but the connection string has none; add it \
                 (postgres://user:PASSWORD@host/db or password=...)"
            ),
        )),
    }
}

fn method_name(code: i32) -> &'static str {
    match code {
        2 => "Kerberos V5",
        7 | 8 => "GSSAPI",
        9 => "SSPI",
        _ => "unknown",
    }
}
