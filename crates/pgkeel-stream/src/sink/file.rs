//! The file sink: JSON lines appended to a file and synced to disk before a batch counts as
//! delivered. A batch that fails half-way is cut off again, so the file holds whole lines. On
//! open it reads its own last line: the pipeline skips every event at or before that one, so a
//! restart after a crash (even kill -9 right after a write) neither repeats nor loses events.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::{Batch, Sink, SinkError};

/// Appends each event as one JSON line to a file, created if missing.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    /// Shared with the blocking task that writes; locked so that a write abandoned by a
    /// dropped `deliver` future never interleaves with the next one.
    file: Arc<Mutex<File>>,
    /// The last event in the file when it was opened.
    held: Option<super::Position>,
}

impl FileSink {
    /// Opens `path` for appending, creating it (and syncing its directory, so the new file
    /// survives a crash) if it does not exist. A torn last line — a process killed in the
    /// middle of a write, before the batch counted as delivered — is cut off, so the next
    /// batch starts on a line of its own.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_path_buf();
        if path.as_os_str().is_empty() {
            return Err(SinkError::invalid_spec(
                "file:",
                "the file sink needs a path: file:PATH",
            ));
        }
        let describe = || format!("file {}", path.display());
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| {
                SinkError::io(
                    describe(),
                    "cannot open for appending (check that the directory exists and is writable)",
                    &e,
                )
            })?;
        if !existed {
            sync_directory(&path).map_err(|e| {
                SinkError::io(describe(), "cannot sync the directory of the new file", &e)
            })?;
        } else if let Some(cut) = cut_torn_line(&file)
            .map_err(|e| SinkError::io(describe(), "cannot cut off a torn last line", &e))?
        {
            tracing::warn!(file = %path.display(), bytes = cut, "cut off a torn last line (a write interrupted before it was acknowledged)");
        }
        let held = last_position(&file)
            .map_err(|e| SinkError::io(describe(), "cannot read the last line", &e))?;
        if let Some(held) = held {
            tracing::info!(file = %path.display(), commit_lsn = %held.commit_lsn, ordinal = held.ordinal, "resuming after the last event in the file");
        }
        Ok(FileSink {
            path,
            file: Arc::new(Mutex::new(file)),
            held,
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for FileSink {
    fn position(&self) -> Option<super::Position> {
        self.held
    }

    fn deliver<'a>(&'a mut self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if batch.events.is_empty() {
                return Ok(());
            }
            let lines = batch.json_lines();
            let file = Arc::clone(&self.file);
            let outcome = tokio::task::spawn_blocking(move || {
                let file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                append(&file, &lines)
            })
            .await;
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err((action, e))) => Err(SinkError::io(self.describe(), action, &e)),
                Err(e) => Err(SinkError::io(
                    self.describe(),
                    "the writing task failed",
                    &io::Error::other(e.to_string()),
                )),
            }
        })
    }

    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }
}

/// Appends `data` in one `write_all` and syncs it; on failure, truncates the file back to
/// where the batch began so no partial line stays behind.
fn append(mut file: &File, data: &[u8]) -> Result<(), (&'static str, io::Error)> {
    let start = file
        .metadata()
        .map_err(|e| ("cannot read the file's size", e))?
        .len();
    let written = file
        .write_all(data)
        .map_err(|e| ("cannot write (is the disk full?)", e))
        .and_then(|()| file.sync_data().map_err(|e| ("cannot sync to disk", e)));
    if written.is_err()
        && let Err(e) = file.set_len(start)
    {
        tracing::warn!(error = %e, "cannot cut a partly written batch off the file sink's file");
    }
    written
}

/// Truncates the file after its last newline when bytes follow it; returns how many were cut.
fn cut_torn_line(file: &File) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut chunk = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.read_exact_at(part, start)?;
        if let Some(newline) = memchr_last(part) {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end == len {
        return Ok(None);
    }
    file.set_len(end)?;
    file.sync_data()?;
    Ok(Some(len - end))
}

/// The position of the file's last line (whole lines only, as after [`cut_torn_line`]); `None`
/// for an empty file or a last line that is not an event of ours (a file written by something
/// else: then nothing is skipped).
fn last_position(file: &File) -> io::Result<Option<super::Position>> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // The last line: search back from before the final newline, in growing windows.
    let mut window = 64 * 1024u64;
    loop {
        let start = len.saturating_sub(window);
        let mut tail = vec![0u8; (len - start) as usize];
        file.read_exact_at(&mut tail, start)?;
        let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
        match memchr_last(body) {
            Some(newline) => return Ok(parse_position(&body[newline + 1..])),
            None if start == 0 => return Ok(parse_position(body)),
            None => window *= 4,
        }
    }
}

fn parse_position(line: &[u8]) -> Option<super::Position> {
    #[derive(serde::Deserialize)]
    struct Key {
        commit_lsn: String,
        ordinal: u32,
    }
    let key: Key = serde_json::from_slice(line).ok()?;
    Some(super::Position {
        commit_lsn: key.commit_lsn.parse().ok()?,
        ordinal: key.ordinal,
    })
}

fn memchr_last(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

/// Syncs the directory holding `path`, making a newly created file's entry durable.
fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
