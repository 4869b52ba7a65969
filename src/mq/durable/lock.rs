//! The owner lock of a log directory: one writer per directory, whoever it is.
//!
//! Two owners of one directory (two `Mq`s, two queues of one `Mq`, or two processes) would
//! both replay and handle the same messages, and the second one's registration could delete the
//! first one's active segment. So before recovery touches anything, the queue takes an
//! exclusive advisory lock on `<dir>/LOCK` (`flock` on Unix, `LockFileEx` on Windows, through
//! `fs4`) and keeps the file open for as long as the log is open. Both calls lock per open
//! file, so a second queue in the same process is refused like another process.
//!
//! The holder writes `pid <its process ID>` into the file once it holds the lock, so a refused
//! owner can say who holds it. The file is opened without truncation (truncating would erase
//! the holder's line before the lock is tried) and left in place when the log closes: the lock,
//! not the file's existence, is what counts, so a crashed owner leaves nothing to clean up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use fs4::{FileExt, TryLockError};

use super::DurableError;

/// The lock file's name in the log directory (not a segment, so recovery ignores it).
pub(crate) const LOCK_FILE: &str = "LOCK";

/// The held lock of one log directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlocked explicitly, not by closing the file: a process that forks (to spawn a child)
        // shares the open file description with the child until its `exec`, and a close alone
        // releases the lock only when the last copy closes. Found as a 1-in-30 flake of
        // `tests/durable_lock.rs` while another test spawned a child.
        let _ = FileExt::unlock(&self.file);
    }
}

/// Takes the lock of `dir` (which exists), or fails with [`DurableError::Locked`] naming the
/// lock file and, when it says, the holder.
pub(crate) fn acquire(dir: &Path) -> Result<DirLock, DurableError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| DurableError::io(&path, "open the lock file", &e))?;
    // Fully qualified: std's inherent `File::try_lock` (Rust 1.89) would shadow the trait's.
    match FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(DurableError::Locked {
                holder: holder(&mut file),
                path,
            })
        }
        Err(TryLockError::Error(e)) => return Err(DurableError::io(&path, "lock", &e)),
    }
    write_holder(&mut file, &path)?;
    Ok(DirLock { file })
}

/// Replaces the file's content with this process's line.
fn write_holder(file: &mut File, path: &Path) -> Result<(), DurableError> {
    let line = format!("pid {}\n", std::process::id());
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(line.as_bytes()))
        .map_err(|e| DurableError::io(path, "write the lock file", &e))
}

/// What the holder wrote (`pid N`), if it is readable yet.
fn holder(file: &mut File) -> Option<String> {
    let mut s = String::new();
    Read::by_ref(file).take(256).read_to_string(&mut s).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}
