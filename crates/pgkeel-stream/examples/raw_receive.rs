//! The raw pgoutput receive rate: pgkeel's replication client reading a slot up to an end LSN
//! and throwing the bytes away (no decoding, no sink) — the ceiling the stream benchmark
//! compares `pgkeel stream` with.
//!
//! ```sh
//! cargo run --release -p pgkeel-stream --example raw_receive -- URL SLOT PUBLICATION END_LSN
//! ```
//! Prints `messages=N bytes=N seconds=S` on stdout.

#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use pgkeel_stream::{
    Database, Lsn, ReplConfig, ReplicationConnection, ReplicationMessage, publication_names,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, slot, publication, end] = args.as_slice() else {
        return Err("usage: raw_receive URL SLOT PUBLICATION END_LSN".into());
    };
    let end: Lsn = end.parse()?;
    let config = ReplConfig::new(&Database::parse(url)?)?;
    let began = Instant::now();
    let connection = ReplicationConnection::connect(&config).await?;
    let options = [
        ("proto_version".to_owned(), "2".to_owned()),
        (
            "publication_names".to_owned(),
            publication_names(&[publication.as_str()]),
        ),
    ];
    let mut stream = connection.start_logical(slot, Lsn::ZERO, &options).await?;
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut last_status = Instant::now();
    loop {
        let reached = match stream.recv().await? {
            ReplicationMessage::XLogData {
                wal_start,
                wal_end,
                data,
                ..
            } => {
                messages += 1;
                bytes += data.len() as u64;
                stream.advance_write(wal_end);
                wal_start >= end
            }
            ReplicationMessage::Keepalive {
                wal_end,
                reply_requested,
                ..
            } => {
                if reply_requested {
                    stream.advance_flush(stream.feedback().write);
                    stream.send_status(false).await?;
                }
                wal_end >= end
            }
        };
        if last_status.elapsed() > Duration::from_secs(1) {
            stream.advance_flush(stream.feedback().write);
            stream.send_status(false).await?;
            last_status = Instant::now();
        }
        if reached {
            break;
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    stream.advance_flush(stream.feedback().write);
    stream.send_status(false).await?;
    let _ = stream.finish().await;
    println!("messages={messages} bytes={bytes} seconds={seconds:.3}");
    Ok(())
}
