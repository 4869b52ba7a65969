//! [`DurableError`]: what can go wrong with a durable queue's log, always with the file's path.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A disk or log-format error of a durable queue. Every variant names the file (or directory)
/// concerned; format errors also give the byte offset in that file.
///
/// It is `Clone + Eq` (so that [`MqError`](crate::MqError) and
/// [`PublishError`](crate::PublishError) stay so): an I/O error is kept as its
/// [`io::ErrorKind`] and its message.
///
/// ```
/// use segmq::{DurableError, Mq, MqError, Msg, QueueOptions, SyncPolicy};
/// let file = tempfile::NamedTempFile::new().unwrap(); // a file, not a directory
/// let mq = Mq::new();
/// let r = mq.register_with(
///     "q",
///     QueueOptions::new(1).durable(file.path().join("wal"), SyncPolicy::Always),
///     |_: &Msg<u32>| Ok::<_, MqError>(()),
/// );
/// let Err(MqError::Storage(e)) = r else { panic!("expected a storage error") };
/// assert!(e.path().starts_with(file.path()));
/// assert!(matches!(e, DurableError::Io { .. }));
/// println!("{e}"); // names the path and the operation
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurableError {
    /// An I/O call failed (full disk, permission denied, missing directory, ...).
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("create", "write", "fsync", ...).
        op: &'static str,
        /// The error's kind.
        kind: io::ErrorKind,
        /// The error's message.
        message: String,
    },
    /// A file in the log directory is not a segment this version can read (wrong magic or
    /// version, or a header cut short in a segment that is not the last one).
    BadHeader {
        /// The segment file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A record in the middle of the log is damaged (bad checksum, impossible length or kind)
    /// and valid records follow it: recovery stops rather than lose them silently. Opt into
    /// skipping with [`DurableOptions::skip_corrupt`](crate::DurableOptions::skip_corrupt).
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damaged record in the file.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A message's payload could not be encoded, or a recovered one could not be decoded as
    /// the queue's type.
    Codec {
        /// The segment file (for encoding: the log directory).
        path: PathBuf,
        /// Byte offset of the record, for a decoding error.
        offset: Option<u64>,
        /// The codec's message.
        message: String,
    },
    /// The log directory already has an owner: another queue (of this `Mq` or another one) or
    /// another process holds its lock file. One queue per directory.
    Locked {
        /// The lock file (`<dir>/LOCK`).
        path: PathBuf,
        /// Who holds it, as the holder wrote it in the file (`pid 1234`), if readable.
        holder: Option<String>,
    },
    /// An earlier write or `fsync` of this log failed; the log refuses further writes (the
    /// state of the file after a failed `fsync` is unknown). Re-register the queue (restart)
    /// to recover from what is on disk.
    Failed {
        /// The segment file.
        path: PathBuf,
        /// The first error.
        cause: Box<DurableError>,
    },
}

impl DurableError {
    /// The file or directory concerned.
    ///
    /// ```
    /// use segmq::DurableError;
    /// let e = DurableError::Corrupt { path: "wal/00000000000000000001.seg".into(), offset: 64, reason: "checksum mismatch" };
    /// assert_eq!(e.path().file_name().unwrap(), "00000000000000000001.seg");
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::BadHeader { path, .. }
            | Self::Corrupt { path, .. }
            | Self::Codec { path, .. }
            | Self::Locked { path, .. }
            | Self::Failed { path, .. } => path,
        }
    }

    pub(crate) fn io(path: &Path, op: &'static str, e: &io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            op,
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for DurableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path, op, message, ..
            } => write!(f, "durable log: {op} {}: {message}", path.display()),
            Self::BadHeader { path, reason } => {
                write!(f, "durable log: {}: {reason}", path.display())
            }
            Self::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "durable log: corrupt record in {} at offset {offset}: {reason}",
                path.display()
            ),
            Self::Codec {
                path,
                offset: Some(o),
                message,
            } => write!(
                f,
                "durable log: cannot decode the payload in {} at offset {o}: {message}",
                path.display()
            ),
            Self::Codec {
                path,
                offset: None,
                message,
            } => write!(
                f,
                "durable log: cannot encode a payload for {}: {message}",
                path.display()
            ),
            Self::Locked { path, holder } => {
                write!(
                    f,
                    "durable log: {} is locked by another owner",
                    path.display()
                )?;
                if let Some(h) = holder {
                    write!(f, " ({h}")?;
                    if *h == format!("pid {}", std::process::id()) {
                        write!(f, ", this process")?;
                    }
                    write!(f, ")")?;
                }
                write!(f, "; a log directory serves one queue at a time")
            }
            Self::Failed { path, cause } => write!(
                f,
                "durable log: {} refuses writes after an earlier failure ({cause})",
                path.display()
            ),
        }
    }
}

impl Error for DurableError {}
