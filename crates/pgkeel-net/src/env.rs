//! The libpq environment variables pgkeel honours where the connection string is silent:
//! `PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGAPPNAME`,
//! `PGOPTIONS`, `PGCONNECT_TIMEOUT` (the user name falls back to `$USER`, as libpq's does to
//! the login name).

use std::time::Duration;

use tokio_postgres::Config;

use crate::error::Error;

/// Fills what `pg` does not set from `env`; returns the connect timeout `PGCONNECT_TIMEOUT`
/// gives, if any.
pub(crate) fn apply(
    pg: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Duration>, Error> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if pg.get_hosts().is_empty() && pg.get_hostaddrs().is_empty() {
        if let Some(hosts) = var("PGHOST") {
            for host in hosts.split(',') {
                if host.starts_with('/') {
                    pg.host_path(host);
                } else {
                    pg.host(host);
                }
            }
        }
        if let Some(addrs) = var("PGHOSTADDR") {
            for addr in addrs.split(',') {
                let parsed = addr.trim().parse().map_err(|_| {
                    Error::config(format!("PGHOSTADDR: `{addr}` is not an IP address"))
                })?;
                pg.hostaddr(parsed);
            }
        }
    }
    if pg.get_ports().is_empty()
        && let Some(ports) = var("PGPORT")
    {
        for port in ports.split(',') {
            let parsed = port.trim().parse().map_err(|_| {
                Error::config(format!("PGPORT: `{port}` is not a port from 0 to 65535"))
            })?;
            pg.port(parsed);
        }
    }
    if pg.get_user().is_none()
        && let Some(user) = var("PGUSER").or_else(|| var("USER"))
    {
        pg.user(&user);
    }
    if pg.get_password().is_none()
        && let Some(password) = var("PGPASSWORD")
    {
        pg.password(password);
    }
    if pg.get_dbname().is_none()
        && let Some(dbname) = var("PGDATABASE")
    {
        pg.dbname(&dbname);
    }
    if pg.get_application_name().is_none()
        && let Some(name) = var("PGAPPNAME")
    {
        pg.application_name(&name);
    }
    if pg.get_options().is_none()
        && let Some(options) = var("PGOPTIONS")
    {
        pg.options(&options);
    }
    match var("PGCONNECT_TIMEOUT") {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse::<u64>()
            .map(|s| Some(Duration::from_secs(s)).filter(|d| !d.is_zero()))
            .map_err(|_| {
                Error::config(format!(
                    "PGCONNECT_TIMEOUT: `{text}` is not a whole number of seconds"
                ))
            }),
    }
}
