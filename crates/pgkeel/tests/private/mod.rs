//! Tests that run `pgkeel postgres`, each with a server of its own.

mod postgres_cmd;
mod proxy_cmd;
