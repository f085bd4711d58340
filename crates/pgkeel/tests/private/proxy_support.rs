//! Running `pgkeel proxy` in tests and setting its rules over the control API.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use crate::common::pgkeel;

pub(crate) struct RunningProxy {
    pub(crate) child: Child,
    pub(crate) listen: String,
    pub(crate) control: String,
    /// The CA a `--tls terminate` proxy generated (its `PGSSLROOTCERT=` line).
    pub(crate) generated_ca: Option<String>,
}

impl RunningProxy {
    pub(crate) fn start(upstream: &str, extra: &[&str]) -> Self {
        Self::start_with_env(upstream, extra, &[])
    }

    /// Like [`RunningProxy::start`], with extra environment variables for the proxy.
    pub(crate) fn start_with_env(upstream: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = pgkeel()
            .args(["proxy", "--upstream", upstream, "--control", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut value = |key: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim_end()
                .strip_prefix(&format!("{key}="))
                .unwrap_or_else(|| panic!("expected {key}=..., got {line:?}"))
                .to_owned()
        };
        let listen = value("PGKEEL_PROXY");
        let control = value("PGKEEL_CONTROL");
        let generated_ca = (extra.contains(&"terminate") && !extra.contains(&"--tls-cert"))
            .then(|| value("PGSSLROOTCERT"));
        RunningProxy {
            child,
            listen,
            control,
            generated_ca,
        }
    }

    pub(crate) fn fault(&self, args: &[&str]) -> std::process::Output {
        pgkeel()
            .arg("fault")
            .args(args)
            .env("PGKEEL_CONTROL", &self.control)
            .output()
            .unwrap()
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.listen)
    }
}

impl RunningProxy {
    /// Puts `rules` in force (PUT /rules); panics with the proxy's answer if rejected.
    pub(crate) fn rules(&self, rules: &str) {
        let mut stream = std::net::TcpStream::connect(&self.control).unwrap();
        write!(
            stream,
            "PUT /rules HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{rules}",
            self.control,
            rules.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "rules {rules:?} rejected: {answer}"
        );
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
