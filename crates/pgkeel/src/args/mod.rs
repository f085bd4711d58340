//! Argument groups shared by the subcommands, each flattened (`#[command(flatten)]`) where it
//! applies: the database (`--database-url`), the recovering connection's timings
//! (`--keepalive`, `--connect-timeout`, `--backoff-*`, `--application-name`), and the
//! duration syntax every `DURATION` flag takes.

mod connection;
mod database;
mod duration;

pub(crate) use connection::ConnectionArgs;
pub(crate) use database::DatabaseArgs;
pub(crate) use duration::parse_duration;
