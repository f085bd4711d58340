//! Tests with clusters of their own (TLS setups).

mod tls;
