//! Listener settings: the connection (a [`PoolConfig`]: URL, timeouts, keepalive, backoff,
//! fast probe, error classes), the channels, and the size of the event buffer.

use pgkeel_wire::sql::has_nul;

use crate::config::PoolConfig;
use crate::error::Error;

/// Longest channel name PostgreSQL keeps (NAMEDATALEN - 1 bytes); longer names are truncated.
const MAX_CHANNEL_BYTES: usize = 63;

/// How a [`Listener`](super::Listener) connects, what it listens to and how many events it
/// buffers for a slow consumer.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// The connection and its failure behaviour. Used: `database`, `name` (in logs and metrics),
    /// `connect_timeout`, `keepalive` (a silent link is noticed within it), `backoff`,
    /// `fast_probe`, `classifier`. The pool sizes are ignored: a listener has one connection
    /// of its own.
    pub connection: PoolConfig,
    /// The channels to LISTEN to (more can be added at run time).
    pub channels: Vec<String>,
    /// Events buffered for the consumer. When it is full, notifications are dropped and a
    /// [`Gap`](super::Event::Gap) reports them as soon as there is room again; memory stays
    /// bounded and the connection is never held up by a slow consumer.
    pub buffer: usize,
}

impl ListenerConfig {
    /// Listens to no channel yet on `connection`, with a buffer of 1024 events.
    pub fn new(connection: PoolConfig) -> Self {
        ListenerConfig {
            connection,
            channels: Vec::new(),
            buffer: 1024,
        }
    }

    /// Settings for `url` (libpq URL or `key=value` DSN) with the defaults of
    /// [`PoolConfig::from_url`].
    pub fn from_url(url: &str) -> Result<Self, Error> {
        PoolConfig::from_url(url).map(Self::new)
    }

    /// Adds a channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channels.push(channel.into());
        self
    }

    /// Adds channels.
    pub fn channels<I>(mut self, channels: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.channels.extend(channels.into_iter().map(Into::into));
        self
    }

    /// Sets the number of events buffered for the consumer (at least 1).
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events;
        self
    }

    /// Checks the settings make sense.
    pub fn validate(&self) -> Result<(), Error> {
        self.connection.validate()?;
        if self.buffer == 0 {
            return Err(Error::config(
                "the listener's event buffer must hold at least 1 event",
            ));
        }
        for channel in &self.channels {
            check_channel(channel)?;
        }
        Ok(())
    }
}

/// Checks a channel name PostgreSQL would take as it is.
pub(super) fn check_channel(channel: &str) -> Result<(), Error> {
    if channel.is_empty() {
        return Err(Error::config("a channel name must not be empty"));
    }
    if has_nul(channel) {
        return Err(Error::config(format!(
            "the channel name {channel:?} contains a NUL byte, which PostgreSQL does not accept"
        )));
    }
    if channel.len() > MAX_CHANNEL_BYTES {
        return Err(Error::config(format!(
            "the channel name {channel:?} is {} bytes long; PostgreSQL keeps only the first \
             {MAX_CHANNEL_BYTES}, so notifications would arrive under another name (use a \
             shorter one)",
            channel.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use pgkeel_wire::sql::quote_ident;

    use super::*;

    #[test]
    fn channels_are_checked_and_quoted() {
        assert!(check_channel("jobs").is_ok());
        assert!(check_channel("").is_err());
        assert!(check_channel("a\0b").is_err());
        assert!(check_channel(&"x".repeat(63)).is_ok());
        assert!(check_channel(&"x".repeat(64)).is_err());
        assert_eq!(quote_ident("Mixed \"Case\""), "\"Mixed \"\"Case\"\"\"");
    }
}
