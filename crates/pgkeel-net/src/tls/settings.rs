//! The TLS settings of a connection with libpq's names, values, defaults and environment:
//! `sslmode` (`PGSSLMODE`, default `prefer`), `sslrootcert` (`PGSSLROOTCERT`, a file or
//! `system`, default `~/.postgresql/root.crt` when it exists), `sslcert`/`sslkey`
//! (`PGSSLCERT`/`PGSSLKEY`, default `~/.postgresql/postgresql.crt`/`.key` when they exist),
//! `sslsni` (`PGSSLSNI`, default on) and `ssl_min_protocol_version`.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

/// How much TLS a connection insists on (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext first; TLS when the server refuses plaintext.
    Allow,
    /// TLS when the server offers it, else plaintext (libpq's default).
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless a root CA file is given,
    /// then as `verify-ca`, like libpq).
    Require,
    /// TLS, and the certificate must be signed by a trusted CA.
    VerifyCa,
    /// TLS, a trusted CA, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str, source: &str) -> Result<Self, Error> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::config(format!(
                    "{source}: `{other}` is not an sslmode; use disable, allow, prefer, require, \
                     verify-ca or verify-full"
                )));
            }
        })
    }

    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// True for the modes that never fall back to plaintext.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCerts {
    /// None given and no default file: certificates cannot be verified.
    Missing(PathBuf),
    /// A PEM file (given, or libpq's default that exists).
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`).
    System,
}

/// Every TLS setting of one connection string, resolved against the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) mode: SslMode,
    /// The mode as the user wrote it (`require` may be upgraded to `verify-ca`).
    pub(crate) mode_given: SslMode,
    pub(crate) roots: RootCerts,
    pub(crate) client: Option<(PathBuf, PathBuf)>,
    pub(crate) sni: bool,
    pub(crate) min_tls13: bool,
}

impl Settings {
    /// Resolves the `pairs` taken from the connection string, then `env`, then libpq's
    /// defaults (files under `$HOME/.postgresql` that exist).
    pub(crate) fn resolve(
        pairs: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let given = |key: &str, var: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| (v.clone(), key.to_owned()))
                .or_else(|| {
                    env(var)
                        .filter(|v| !v.is_empty())
                        .map(|v| (v, var.to_owned()))
                })
        };
        for (key, value) in pairs {
            match key.as_str() {
                "sslpassword" => {
                    return Err(Error::config(
                        "sslpassword is not supported: pgkeel reads only unencrypted client keys; \
                         decrypt it once (openssl pkey -in KEY -out KEY.plain) and keep it mode 0600",
                    ));
                }
                "sslcrl" | "sslcrldir" if !value.is_empty() => {
                    return Err(Error::config(format!(
                        "{key} is not supported yet: pgkeel does not check certificate revocation \
                         lists; remove {key}, or connect with psql if you need CRLs"
                    )));
                }
                "sslnegotiation" if value != "postgres" => {
                    return Err(Error::config(format!(
                        "sslnegotiation={value} is not supported: pgkeel negotiates TLS with \
                         SSLRequest (sslnegotiation=postgres), which every server supports"
                    )));
                }
                "ssl_max_protocol_version" if !value.is_empty() => {
                    return Err(Error::config(
                        "ssl_max_protocol_version is not supported: pgkeel speaks TLS 1.2 and 1.3",
                    ));
                }
                _ => {}
            }
        }
        let home = env("HOME").map(PathBuf::from);
        let default_file = |name: &str| home.as_ref().map(|h| h.join(".postgresql").join(name));

        let mode_given = match given("sslmode", "PGSSLMODE") {
            Some((text, source)) => SslMode::parse(&text, &source)?,
            None => SslMode::Prefer,
        };
        let roots = match given("sslrootcert", "PGSSLROOTCERT") {
            Some((text, _)) if text == "system" => RootCerts::System,
            Some((text, _)) => RootCerts::File(PathBuf::from(text)),
            None => match default_file("root.crt") {
                Some(path) if path.is_file() => RootCerts::File(path),
                Some(path) => RootCerts::Missing(path),
                None => RootCerts::Missing(PathBuf::from("~/.postgresql/root.crt")),
            },
        };
        let mode = match (&roots, mode_given) {
            // libpq: a root CA file makes `require` check the chain; `system` forces full.
            (RootCerts::File(_), SslMode::Require) => SslMode::VerifyCa,
            (RootCerts::System, SslMode::VerifyCa | SslMode::Require) => SslMode::VerifyFull,
            (_, mode) => mode,
        };
        if matches!(roots, RootCerts::System) && !mode.requires_tls() {
            return Err(Error::config(format!(
                "sslrootcert=system needs sslmode=verify-full (it was {mode}): system roots \
                 certify public host names"
            )));
        }
        let cert = given("sslcert", "PGSSLCERT").map(|(v, _)| (PathBuf::from(v), true));
        let key = given("sslkey", "PGSSLKEY").map(|(v, _)| (PathBuf::from(v), true));
        let cert = cert.or_else(|| default_file("postgresql.crt").map(|p| (p, false)));
        let key = key.or_else(|| default_file("postgresql.key").map(|p| (p, false)));
        let client = match cert {
            Some((cert, _)) if cert.is_file() => match key {
                Some((key, _)) => Some((cert, key)),
                None => {
                    return Err(Error::config(format!(
                        "the client certificate {} needs its key: add sslkey=FILE (or PGSSLKEY)",
                        cert.display()
                    )));
                }
            },
            Some((cert, true)) => {
                return Err(Error::config(format!(
                    "the client certificate {} (sslcert) cannot be read: no such file",
                    cert.display()
                )));
            }
            _ => None,
        };
        let sni = match given("sslsni", "PGSSLSNI") {
            Some((text, _)) => text != "0",
            None => true,
        };
        let min_tls13 = match given("ssl_min_protocol_version", "PGSSLMINPROTOCOLVERSION") {
            None => false,
            Some((text, _)) => match text.as_str() {
                "TLSv1" | "TLSv1.1" | "TLSv1.2" | "" => false,
                "TLSv1.3" => true,
                other => {
                    return Err(Error::config(format!(
                        "ssl_min_protocol_version `{other}` is not one of TLSv1, TLSv1.1, \
                         TLSv1.2, TLSv1.3"
                    )));
                }
            },
        };
        Ok(Settings {
            mode,
            mode_given,
            roots,
            client,
            sni,
            min_tls13,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn libpq_defaults_and_upgrades() {
        let none = |_: &str| None;
        let s = Settings::resolve(&[], &none).unwrap();
        assert_eq!(
            (s.mode, s.sni, s.client.is_none()),
            (SslMode::Prefer, true, true)
        );
        assert!(matches!(s.roots, RootCerts::Missing(_)));

        let s = Settings::resolve(
            &kv(&[("sslmode", "require"), ("sslrootcert", "/ca")]),
            &none,
        )
        .unwrap();
        assert_eq!(
            (s.mode, s.mode_given),
            (SslMode::VerifyCa, SslMode::Require)
        );
        let s = Settings::resolve(
            &kv(&[("sslmode", "require"), ("sslrootcert", "system")]),
            &none,
        )
        .unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        let err = Settings::resolve(&kv(&[("sslrootcert", "system")]), &none).unwrap_err();
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn the_string_wins_over_the_environment() {
        let env = |name: &str| match name {
            "PGSSLMODE" => Some("verify-full".to_owned()),
            "PGSSLROOTCERT" => Some("/env/ca.crt".to_owned()),
            _ => None,
        };
        let s = Settings::resolve(&[], &env).unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.roots, RootCerts::File("/env/ca.crt".into()));
        let s = Settings::resolve(&kv(&[("sslmode", "disable")]), &env).unwrap();
        assert_eq!(s.mode, SslMode::Disable);
        let err = Settings::resolve(&[], &|n: &str| {
            (n == "PGSSLMODE").then(|| "verify_full".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("PGSSLMODE"), "{err}");
    }

    #[test]
    fn unsupported_settings_say_so() {
        let none = |_: &str| None;
        for (key, value) in [
            ("sslpassword", "x"),
            ("sslcrl", "/crl"),
            ("sslnegotiation", "direct"),
            ("ssl_min_protocol_version", "TLSv9"),
            ("sslcert", "/does/not/exist.crt"),
        ] {
            let err = Settings::resolve(&kv(&[(key, value)]), &none).unwrap_err();
            assert!(err.is_config(), "{key}: {err}");
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
    }
}
