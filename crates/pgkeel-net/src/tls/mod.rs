//! TLS on every connection pgkeel opens, with libpq's settings and meaning, over rustls with
//! the ring provider.
//!
//! | file | what |
//! |---|---|
//! | `params.rs` | takes `sslmode`, `sslrootcert`, … out of a URL or DSN |
//! | `settings.rs` | resolves them with the `PGSSL*` environment and libpq's defaults |
//! | `client.rs` | the rustls client config, files read once at parse time |
//! | `verify.rs` | what is checked per mode, and failures that name the fix |
//! | `postgres.rs` | the adapter tokio-postgres handshakes through |
//! | `negotiate.rs` | SSLRequest + handshake on a bare [`crate::Socket`] (replication, proxy) |
//! | `failure.rs` | TLS failures retrying cannot fix, found in an error chain |
//! | `server.rs` | the server side (the proxy's `--tls terminate`) |
//! | `authority.rs` | a throwaway CA that signs server and client certificates |

mod authority;
mod client;
mod failure;
mod negotiate;
pub(crate) mod params;
mod postgres;
mod server;
mod settings;
mod verify;

pub use authority::{CertificateAuthority, LOCAL_NAMES, PemPair};
pub use client::{ClientTls, crypto_provider};
pub use failure::{TlsFailure, tls_failure};
pub use negotiate::SSL_REQUEST;
pub(crate) use negotiate::negotiate;
pub use postgres::PgTlsStream;
pub(crate) use postgres::RustlsConnect;
pub use server::ServerTls;
pub(crate) use settings::Settings;
pub use settings::SslMode;
