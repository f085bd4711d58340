//! The file sink: JSON lines appended to a file and synced to disk before a batch counts as
//! delivered. A batch that fails half-way is cut off again, so the file holds whole lines.
//! Events can repeat after a restart (at least once); `(commit_lsn, ordinal)` identifies one.

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
}

impl FileSink {
    /// Opens `path` for appending, creating it (and syncing its directory, so the new file
    /// survives a crash) if it does not exist.
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
        }
        Ok(FileSink {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for FileSink {
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

/// Syncs the directory holding `path`, making a newly created file's entry durable.
fn sync_directory(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
