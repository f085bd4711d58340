//! Tests that run the binary against a server of their own (they stop, kill or fault it).

mod demo_cmd;
mod listen_cmd;
mod postgres_cmd;
mod proxy_cmd;
mod proxy_support;
mod serve_cmd;
mod serve_faults;
mod serve_support;
mod stream_cmd;
mod tls_cmd;
