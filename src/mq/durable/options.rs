//! [`SyncPolicy`] and [`DurableOptions`]: when the log is forced to disk, where it lives, and
//! how recovery treats damage.

use std::path::PathBuf;
use std::time::Duration;

/// When a durable queue's log reaches stable storage (`fsync`/`fdatasync`).
///
/// Under every policy, `publish` returns only after its record was handed to the operating
/// system (`write`), so a process crash (`kill -9`, a panic that aborts) loses no accepted
/// message; the policies differ on a power loss or kernel crash.
///
/// ```
/// use std::time::Duration;
/// use segmq::SyncPolicy;
/// let strict = SyncPolicy::Always; // publish returns after fdatasync (group commit)
/// let relaxed = SyncPolicy::Interval(Duration::from_millis(10)); // a thread syncs every 10 ms
/// let fast = SyncPolicy::OsBuffered; // the OS decides when
/// assert_ne!(strict, fast);
/// # drop(relaxed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `publish` returns after the record is on disk. Concurrent publishers share one
    /// `fdatasync` (group commit), so throughput grows with the number of publishers.
    Always,
    /// A background thread syncs the log every interval: a power loss loses at most the
    /// messages accepted in the last interval.
    Interval(Duration),
    /// Never sync explicitly (the kernel writes back dirty pages on its own schedule, about
    /// 30 s on Linux): a power loss can lose that much.
    OsBuffered,
}

/// Where and how a durable queue keeps its log; see
/// [`QueueOptions::durable_with`](crate::QueueOptions::durable_with).
///
/// ```
/// use segmq::{DurableOptions, SyncPolicy};
/// let dir = tempfile::tempdir().unwrap();
/// let o = DurableOptions::new(dir.path(), SyncPolicy::Always)
///     .segment_bytes(1 << 20)
///     .skip_corrupt(false);
/// assert_eq!(o.dir(), dir.path());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "builder methods return the changed options"]
pub struct DurableOptions {
    pub(crate) dir: PathBuf,
    pub(crate) sync: SyncPolicy,
    pub(crate) segment_bytes: u64,
    pub(crate) skip_corrupt: bool,
}

/// Default segment size: 64 MiB.
pub(crate) const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

impl DurableOptions {
    /// A log in directory `dir` (created if missing; one directory per queue) with the given
    /// sync policy, 64 MiB segments, and recovery that stops at a corrupt record.
    ///
    /// ```
    /// let o = segmq::DurableOptions::new("/var/lib/app/wal/words", segmq::SyncPolicy::OsBuffered);
    /// # drop(o);
    /// ```
    pub fn new(dir: impl Into<PathBuf>, sync: SyncPolicy) -> Self {
        Self {
            dir: dir.into(),
            sync,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            skip_corrupt: false,
        }
    }

    /// The size after which the writer starts a new segment file (at least 4 KiB; a segment
    /// can exceed it by one batch of records). A segment is deleted once every message in it
    /// and in the segments before it is done, so smaller segments free disk sooner.
    ///
    /// ```
    /// let o = segmq::DurableOptions::new("wal", segmq::SyncPolicy::Always).segment_bytes(8 << 20);
    /// # drop(o);
    /// ```
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(4096);
        self
    }

    /// With `true`, recovery skips a damaged record in the middle of the log (resuming at the
    /// next valid record) and reports it in [`RecoveryReport::skipped`](crate::RecoveryReport),
    /// instead of failing with [`DurableError::Corrupt`](crate::DurableError::Corrupt). The
    /// messages in the skipped bytes are lost (or, for a lost "done" record, redelivered).
    ///
    /// ```
    /// let o = segmq::DurableOptions::new("wal", segmq::SyncPolicy::Always).skip_corrupt(true);
    /// # drop(o);
    /// ```
    pub fn skip_corrupt(mut self, skip: bool) -> Self {
        self.skip_corrupt = skip;
        self
    }

    /// The log directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The sync policy.
    ///
    /// ```
    /// let o = segmq::DurableOptions::new("wal", segmq::SyncPolicy::Always);
    /// assert_eq!(o.sync_policy(), segmq::SyncPolicy::Always);
    /// ```
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync
    }
}
