//! Error classes, decided from SQLSTATE and connection state — never from message text — and
//! overridable per SQLSTATE.

use std::collections::HashMap;

/// What an error means for the connection and the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The connection or the server is gone or not ready (I/O error, closed, 08xxx,
    /// 57P01–57P03, 53300): recover and retry.
    Transient,
    /// This connection is unusable (protocol violation); discard it, the pool is fine.
    Discard,
    /// Every pooled connection is suspect (e.g. 25006 read-only after a failover): discard all.
    FlushPool,
    /// Retrying cannot help (wrong password 28P01/28000, no such database 3D000, server too
    /// old, a TLS certificate refused or TLS missing under `sslmode=require`): stop and say
    /// why.
    Fatal,
    /// An ordinary error of the statement (syntax, constraint, serialization failure, ...):
    /// the caller's business; the connection is fine.
    Statement,
}

/// Decides the class of an error; built-in rules plus per-SQLSTATE overrides.
#[derive(Debug, Clone, Default)]
pub struct Classifier {
    overrides: HashMap<String, ErrorClass>,
}

impl Classifier {
    /// The built-in rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Treats SQLSTATE `code` as `class` (e.g. `53300` as `Fatal` to fail fast on too many
    /// connections).
    pub fn with(mut self, code: &str, class: ErrorClass) -> Self {
        self.overrides.insert(code.to_owned(), class);
        self
    }

    /// The class of a tokio-postgres error.
    pub fn classify(&self, error: &tokio_postgres::Error) -> ErrorClass {
        match error.code() {
            Some(state) => self.classify_code(state.code()),
            // A certificate refused or TLS missing under `require`: settings must change.
            None if pgkeel_net::tls_failure(error).is_some() => ErrorClass::Fatal,
            None if error.is_closed() => ErrorClass::Transient,
            None if has_io_source(error) => ErrorClass::Transient,
            None if error.to_string().starts_with("timeout") => ErrorClass::Transient,
            None => ErrorClass::Statement,
        }
    }

    /// The class of a SQLSTATE.
    pub fn classify_code(&self, code: &str) -> ErrorClass {
        if let Some(class) = self.overrides.get(code) {
            return *class;
        }
        match code {
            "57P01" | "57P02" | "57P03" | "53300" | "53000" => ErrorClass::Transient,
            "25006" => ErrorClass::FlushPool,
            "08P01" => ErrorClass::Discard,
            "28000" | "28P01" | "3D000" => ErrorClass::Fatal,
            c if c.starts_with("08") => ErrorClass::Transient,
            _ => ErrorClass::Statement,
        }
    }
}

fn has_io_source(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_classes() {
        let c = Classifier::new();
        for (code, class) in [
            ("08006", ErrorClass::Transient),
            ("08001", ErrorClass::Transient),
            ("57P01", ErrorClass::Transient),
            ("57P03", ErrorClass::Transient),
            ("53300", ErrorClass::Transient),
            ("25006", ErrorClass::FlushPool),
            ("08P01", ErrorClass::Discard),
            ("28P01", ErrorClass::Fatal),
            ("28000", ErrorClass::Fatal),
            ("3D000", ErrorClass::Fatal),
            ("40001", ErrorClass::Statement),
            ("42P01", ErrorClass::Statement),
        ] {
            assert_eq!(c.classify_code(code), class, "{code}");
        }
        let strict = Classifier::new().with("53300", ErrorClass::Fatal);
        assert_eq!(strict.classify_code("53300"), ErrorClass::Fatal);
    }
}
