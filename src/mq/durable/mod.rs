//! Durable queues (feature `durable`): an opt-in write-ahead log, so that a crash loses no
//! accepted message.
//!
//! [`QueueOptions::durable`] makes an [`Mq`](crate::Mq) queue write every accepted message to a
//! log in a directory of its own before the message enters the in-memory queue, and a "done"
//! record once its handler succeeded (or it was dead-lettered). Registering the queue again
//! after a crash replays the log and delivers again, in ID order and with their original IDs,
//! the messages that have no "done" record. Queues without it are untouched: their publish is
//! the in-memory push, and a build without the feature contains none of this.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use segmq::{Mq, Msg, QueueOptions, SyncPolicy};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let opts = || QueueOptions::new(2).durable(dir.path(), SyncPolicy::Always);
//!
//! // First run: two messages accepted, then the queue stops before handling them (as after
//! // a crash, they have no "done" record).
//! let mq = Mq::new();
//! let p = mq.register_with("words", opts(), |_: &Msg<String>| Ok::<_, std::io::Error>(())).unwrap();
//! assert_eq!(p.publish("serendipity".into()).unwrap(), 0);
//! assert_eq!(p.publish("quixotic".into()).unwrap(), 1);
//! mq.stop_timeout(std::time::Duration::ZERO); // never started: both left unhandled
//! drop(mq); // (the stop closed the log and released the directory's lock)
//!
//! // Restart: both come back with their IDs, and new IDs continue after them.
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let mq = Mq::new();
//! let p = mq
//!     .register_with("words", opts(), move |m: &Msg<String>| {
//!         sink.lock().unwrap().push((m.id, m.data.clone()));
//!         Ok::<_, std::io::Error>(())
//!     })
//!     .unwrap();
//! assert_eq!(p.recovery().unwrap().redelivered, 2);
//! mq.start().unwrap();
//! assert_eq!(p.publish("ephemeral".into()).unwrap(), 2);
//! mq.stop();
//! let mut seen = seen.lock().unwrap().clone();
//! seen.sort();
//! assert_eq!(seen, [(0, "serendipity".into()), (1, "quixotic".into()), (2, "ephemeral".into())]);
//! ```
//!
//! # Format
//!
//! The log is a directory of segment files `00000000000000000001.seg`, `...2.seg`, ..., and a
//! lock file `LOCK`. Each segment starts with a 24-byte header (magic `SEGMQWAL`, format
//! version 2, the segment's base ID, CRC32C of the header) followed by records:
//!
//! ```text
//! len: u32 LE | crc: u32 LE (CRC32C of len's bytes and the body) | body
//! body = kind: u8 | id: u64 LE | rest
//!        kind 1 = published (the message): rest = the payload, postcard-encoded T
//!        kind 2 = done (handled ok or dead-lettered): no rest
//!        kind 3 = attempts (its handler failed n times so far): rest = n, u32 LE
//! ```
//!
//! Version 2 added the "attempts" record; logs of version 1 (the same without it) are read,
//! and the segments written after them are version 2. A build that knows only version 1
//! refuses a version 2 segment with a clear error.
//!
//! A message costs `17 + payload` bytes for its "published" record, 17 for its "done" record,
//! and 21 per failed attempt. The writer starts a new segment past
//! [`DurableOptions::segment_bytes`] (64 MiB by default) and deletes the oldest segments as
//! soon as every message in them and in the segments before them is done (so a kept segment
//! never needs a record of a deleted one); the segment being written is kept.
//!
//! Directory durability: creating the log directory fsyncs the parent of each directory
//! created; a new segment's header and directory entry are synced under every policy (once
//! per segment) before anything is written to it or any older segment is deleted; deleting a
//! segment fsyncs the directory.
//!
//! # One owner per directory
//!
//! Registration takes an exclusive advisory lock on `<dir>/LOCK` (`flock` on Unix,
//! `LockFileEx` on Windows) before recovery touches anything, and writes `pid <n>` into it. A
//! second owner (another queue of the same or another `Mq`, or another process) is refused
//! with [`DurableError::Locked`], naming the lock file and the holder. The lock is released
//! when the queue's `Mq` is stopped and its last worker has returned (then the log is synced
//! and closed: publishing through a remaining [`Publisher`] fails with `Closed`), or when the
//! process ends, however it ends.
//!
//! # Publish and group commit
//!
//! A durable publish encodes the payload, then under a mutex takes the next ID and appends the
//! record to the pending batch (so the log is in ID order), waits for the batch to be written
//! (and, with [`SyncPolicy::Always`], `fdatasync`ed), pushes the message into the in-memory
//! queue with its ID, and returns the ID. The first waiter finding no write in progress leads
//! the batch: it writes everything appended so far with one `write` and one `fdatasync`, while
//! later publishers gather in the next batch. Concurrent publishers thus share an `fdatasync`
//! (group commit). [`Publisher::publish_batch`] appends all its records at once (consecutive
//! IDs) and waits once: one `fdatasync` per call. Under `Interval(d)` the publish waits for
//! the `write` only and a thread syncs every `d`; under `OsBuffered` nothing is synced
//! explicitly.
//!
//! If the write or sync of a batch fails (a full disk), the segments it touched are cut back
//! to their length before it and synced before its publishers are refused: a refused publish
//! does not come back at the next registration.
//!
//! "Done" records are written (not synced) by the worker after the handler returned `Ok` or the
//! dead-letter handler ran; a lost "done" record only means one more delivery. "Attempts"
//! records are written (not synced) after a failed attempt that is to be retried (or left at a
//! stop deadline).
//!
//! # Recovery
//!
//! At [`Mq::register_with`](crate::Mq::register_with) (and `register_async`) the segments are
//! read in order; every "published" record without a later "done" record goes back into the
//! queue, in ID order, with its ID and the attempt after its logged failed attempts (1 if
//! none), to run when the `Mq` starts; new IDs continue after the highest ID seen (or the last
//! segment's base ID). Then a fresh segment is started. A record cut short or damaged at the
//! end of a segment, with no valid record after it in that segment, is a torn write: it is
//! truncated and reported ([`RecoveryReport::torn_tail`] for the last segment,
//! [`RecoveryReport::lost_tails`] for older ones, which can have one after a power loss). A
//! last segment whose header is cut short or which holds only zeros is a creation that was
//! interrupted: it is removed and reported. Damage followed by valid records in its segment
//! fails the registration with [`DurableError::Corrupt`] (file and offset), or, with
//! [`DurableOptions::skip_corrupt`], is skipped up to the next valid record and reported
//! ([`RecoveryReport::skipped`]). A segment numbered `u64::MAX` is refused (no number is left
//! for the next one). Nothing panics, whatever the bytes.
//!
//! # Guarantees
//!
//! * `Always`: every message for which `publish` returned `Ok` is handled at least once across
//!   crashes and power losses (exactly once when no crash interrupts its handler or the
//!   writing of its "done" record).
//! * `Interval(d)`: a power loss (or kernel crash) can lose the messages accepted in the last
//!   `d` (plus the time of one sync).
//! * `OsBuffered`: a power loss can lose what the kernel had not written back yet.
//! * Under every policy, a process crash alone (`kill -9`, abort) loses nothing: `publish`
//!   returns only after its record was written to the kernel.
//! * IDs never go backwards across process crashes, under every policy, and across power
//!   losses under `Always`. Under `Interval` and `OsBuffered` a power loss that loses the last
//!   records of the log can give their IDs again, to new messages (the lost ones are gone).
//! * The retry policy's maximum holds across restarts: a recovered message goes on from the
//!   attempt after its logged failures. An attempt cut short by a crash is not counted, and
//!   under `Interval`/`OsBuffered` a power loss can lose the count of recent failures.
//! * Messages left by [`Mq::stop_timeout`](crate::Mq::stop_timeout) (returned by
//!   [`Publisher::drain_left`]) have no "done" record: they are delivered again at the next
//!   registration on the same directory, as are messages whose handler was running at a crash.
//!   Handlers should therefore be idempotent (or check the ID).
//! * A publish that returned an error is not handled, unless a crash comes between its write
//!   and its refusal, or cutting its batch back failed too (the error says so): then it may be
//!   delivered once after the restart.
//!
//! # Limits
//!
//! * Durable queues are unbounded: [`QueueOptions::capacity`] with durability is refused
//!   ([`MqError::Unsupported`](crate::MqError::Unsupported)), since recovery puts every pending
//!   message into the queue before the workers start, which a bound could not hold.
//! * The publish time is not logged: a redelivered message's
//!   [`Msg::enqueued_at`](crate::Msg::enqueued_at) is the restart.
//! * With concurrent publishers, IDs are in log order, which can differ from the order in
//!   which their messages enter the in-memory queue.
//! * `try_publish` and `publish_async` on a durable queue wait for the disk like `publish`
//!   (`publish_async` blocks its task meanwhile).
//! * After a write or `fsync` error the log refuses all writes ([`DurableError::Failed`]);
//!   register again (restart) to go on from what is on disk.

mod error;
pub(crate) mod format;
mod lock;
mod options;
mod recovery;
mod segment;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod writer_tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::DurableError;
pub use options::{DurableOptions, SyncPolicy};
pub use recovery::{Damage, RecoveryReport};

use super::msg::Envelope;
use super::{PublishError, Publisher, QueueOptions};
use crate::{Queue, TrySendError};
use writer::Wal;

type Encode<T> = fn(&T, Vec<u8>) -> Result<Vec<u8>, String>;
type Decode<T> = fn(&[u8]) -> Result<T, String>;

/// What `QueueOptions::durable` records: the options and the codec for `T`, type-erased so
/// that registration needs no serde bounds.
pub(crate) struct DurableSpec<T> {
    options: DurableOptions,
    encode: Encode<T>,
    decode: Decode<T>,
}

fn encode<T: Serialize>(value: &T, buf: Vec<u8>) -> Result<Vec<u8>, String> {
    postcard::to_extend(value, buf).map_err(|e| e.to_string())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!(
            "{} bytes left over (was the message type changed?)",
            rest.len()
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl<T: Serialize + DeserializeOwned> QueueOptions<T> {
    /// Makes the queue durable: its messages are logged in `dir` (created if missing; one
    /// directory per queue) and replayed when the queue is registered again. See the
    /// [`durable`](crate::mq::durable) module for the format and the guarantees.
    ///
    /// Payloads are encoded with postcard. Registration fails with
    /// [`MqError::Storage`](crate::MqError::Storage) on a disk error or a damaged log, and with
    /// [`MqError::Unsupported`](crate::MqError::Unsupported) together with
    /// [`capacity`](QueueOptions::capacity).
    ///
    /// ```
    /// use segmq::{Mq, Msg, QueueOptions, SyncPolicy};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register_with("jobs", QueueOptions::new(4).durable(dir.path(), SyncPolicy::Always), |m: &Msg<u64>| {
    ///         println!("job {} = {}", m.id, m.data);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// mq.start().unwrap();
    /// assert_eq!(p.publish(42).unwrap(), 0); // returns once the record is on disk
    /// mq.stop();
    /// ```
    pub fn durable(self, dir: impl Into<PathBuf>, sync: SyncPolicy) -> Self {
        self.durable_with(DurableOptions::new(dir, sync))
    }

    /// Makes the queue durable with every option of [`DurableOptions`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{DurableOptions, QueueOptions, SyncPolicy};
    /// let dir = tempfile::tempdir().unwrap();
    /// let o = QueueOptions::<String>::new(2).durable_with(
    ///     DurableOptions::new(dir.path(), SyncPolicy::Interval(Duration::from_millis(10))).segment_bytes(1 << 20),
    /// );
    /// # drop(o);
    /// ```
    pub fn durable_with(mut self, options: DurableOptions) -> Self {
        self.durable = Some(DurableSpec {
            options,
            encode: encode::<T>,
            decode: decode::<T>,
        });
        self
    }
}

impl<T> Publisher<T> {
    /// For a durable queue, what recovery found when it was registered; `None` otherwise.
    ///
    /// ```
    /// use segmq::{Mq, Msg, QueueOptions, SyncPolicy};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mq = Mq::new();
    /// let plain = mq.register("plain", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert!(plain.recovery().is_none());
    /// let durable = mq
    ///     .register_with("d", QueueOptions::new(1).durable(dir.path(), SyncPolicy::OsBuffered), |_: &Msg<u8>| Ok::<_, std::io::Error>(()))
    ///     .unwrap();
    /// assert_eq!(durable.recovery().unwrap().redelivered, 0);
    /// ```
    pub fn recovery(&self) -> Option<&RecoveryReport> {
        self.core.durable.as_ref().map(|d| &d.report)
    }
}

/// The durable side of one queue.
pub(crate) struct Durable<T> {
    wal: Arc<Wal>,
    encode: Encode<T>,
    report: RecoveryReport,
}

impl<T> Durable<T> {
    /// Recovers the log and puts the pending messages into `queue` (a fresh unbounded queue).
    pub(crate) fn open(
        spec: DurableSpec<T>,
        queue: &Queue<Envelope<T>>,
    ) -> Result<Self, DurableError> {
        let opts = &spec.options;
        segment::ensure_dir(&opts.dir)?;
        // Before recovery touches anything: one owner per directory.
        let dir_lock = lock::acquire(&opts.dir)?;
        let rec = recovery::recover(&opts.dir, opts.skip_corrupt)?;
        let mut report = rec.report.clone();
        let mut msgs = Vec::with_capacity(rec.pending.len());
        let mut undecodable = Vec::new();
        for p in &rec.pending {
            match (spec.decode)(&p.payload) {
                Ok(data) => msgs.push((p.id, p.attempts.saturating_add(1), data)),
                Err(message) => {
                    let path = rec.segments[p.seg].path.clone();
                    if !opts.skip_corrupt {
                        return Err(DurableError::Codec {
                            path,
                            offset: Some(p.offset),
                            message,
                        });
                    }
                    tracing::error!(path = %path.display(), offset = p.offset, msg_id = p.id,
                        "durable log: skipped an undecodable message: {message}");
                    report.skipped.push(Damage {
                        path,
                        offset: p.offset,
                        bytes: (format::FRAME_LEN + format::MIN_BODY + p.payload.len()) as u64,
                        reason: "payload does not decode as the queue's type",
                    });
                    report.redelivered -= 1;
                    undecodable.push(p.id);
                }
            }
        }
        let wal = Wal::open(opts, &rec, dir_lock)?;
        drop(rec);
        for id in undecodable {
            wal.done(id)?;
        }
        for (id, attempt, data) in msgs {
            let env = Envelope {
                id,
                attempt,
                enqueued_at: Instant::now(),
                // Recovered: published by an earlier process, no span to follow.
                extras: None,
                data,
            };
            // A fresh unbounded queue takes everything.
            let pushed = queue.chan.try_send(env);
            debug_assert!(pushed.is_ok(), "a fresh unbounded queue refused a message");
        }
        if report.redelivered > 0
            || report.torn_tail.is_some()
            || !report.lost_tails.is_empty()
            || !report.skipped.is_empty()
        {
            tracing::info!(dir = %opts.dir.display(), redelivered = report.redelivered,
                next_id = report.next_id, torn_tail = report.torn_tail.is_some(),
                lost_tails = report.lost_tails.len(),
                skipped = report.skipped.len(), "durable log: recovered");
        }
        Ok(Self {
            wal,
            encode: spec.encode,
            report,
        })
    }

    /// Logs `data`, then pushes it into `queue`; returns its ID.
    pub(crate) fn publish(
        &self,
        queue: &Queue<Envelope<T>>,
        data: T,
    ) -> Result<u64, PublishError<T>> {
        if queue.is_closed() {
            return Err(PublishError::Closed(data));
        }
        let mut record = Vec::with_capacity(64);
        format::start_published(&mut record);
        let record = match (self.encode)(&data, record) {
            Ok(r) => r,
            Err(message) => {
                let e = DurableError::Codec {
                    path: self.wal.dir().to_owned(),
                    offset: None,
                    message,
                };
                return Err(PublishError::Storage(data, e));
            }
        };
        let id = match self.wal.publish_many(vec![record]) {
            Ok(Some(ids)) => ids.start,
            Ok(None) => return Err(PublishError::Closed(data)),
            Err(e) => return Err(PublishError::Storage(data, e)),
        };
        let env = Envelope::logged(id, data);
        match queue.chan.try_send(env) {
            Ok(_) => Ok(id),
            Err(TrySendError::Closed(env) | TrySendError::Full(env)) => {
                // Stopped between the check and the push: the log must not resurrect it.
                self.done(id);
                Err(PublishError::Closed(env.data))
            }
        }
    }

    /// Logs `items` as one batch (one sync), then pushes them into `queue`; returns their IDs
    /// (consecutive). On an error the refused items and those after them come back in it; the
    /// ones before were published (only an item the codec refuses splits the batch).
    pub(crate) fn publish_batch(
        &self,
        queue: &Queue<Envelope<T>>,
        mut items: Vec<T>,
    ) -> Result<Vec<u64>, PublishError<Vec<T>>> {
        if queue.is_closed() {
            return Err(PublishError::Closed(items));
        }
        let mut records = Vec::with_capacity(items.len());
        let mut refused = None;
        for (i, item) in items.iter().enumerate() {
            let mut record = Vec::with_capacity(64);
            format::start_published(&mut record);
            match (self.encode)(item, record) {
                Ok(r) => records.push(r),
                Err(message) => {
                    let e = DurableError::Codec {
                        path: self.wal.dir().to_owned(),
                        offset: None,
                        message,
                    };
                    refused = Some((i, e));
                    break;
                }
            }
        }
        let rest = refused.as_ref().map(|(i, _)| items.split_off(*i));
        let ids = if records.is_empty() {
            0..0
        } else {
            match self.wal.publish_many(records) {
                Ok(Some(ids)) => ids,
                Ok(None) => {
                    items.extend(rest.into_iter().flatten());
                    return Err(PublishError::Closed(items));
                }
                Err(e) => {
                    items.extend(rest.into_iter().flatten());
                    return Err(PublishError::Storage(items, e));
                }
            }
        };
        let mut items = items.into_iter();
        for id in ids.clone() {
            let Some(data) = items.next() else { break };
            let env = Envelope::logged(id, data);
            if let Err(TrySendError::Closed(env) | TrySendError::Full(env)) =
                queue.chan.try_send(env)
            {
                // Stopped meanwhile: the log must not resurrect the ones not pushed.
                for id in id..ids.end {
                    self.done(id);
                }
                let mut left = vec![env.data];
                left.extend(items);
                left.extend(rest.into_iter().flatten());
                return Err(PublishError::Closed(left));
            }
        }
        match (rest, refused) {
            (Some(rest), Some((_, e))) => Err(PublishError::Storage(rest, e)),
            _ => Ok(ids.collect()),
        }
    }

    /// Closes the log (its queue is stopped and no worker runs any more): releases the
    /// directory for another owner. See `Wal::close`.
    pub(crate) fn close(&self) {
        self.wal.close();
    }

    /// Records that message `id` failed `attempts` times so far and is to be retried (or left
    /// for a restart), so that the retry policy's count goes on after a crash.
    pub(crate) fn attempted(&self, id: u64, attempts: u32) {
        if let Err(e) = self.wal.attempted(id, attempts) {
            tracing::warn!(
                msg_id = id,
                "durable log: cannot record a failed attempt: {e}"
            );
        }
    }

    /// Records that message `id` is finished with (handled, dead-lettered, or refused).
    pub(crate) fn done(&self, id: u64) {
        if let Err(e) = self.wal.done(id) {
            tracing::warn!(
                msg_id = id,
                "durable log: cannot record a message as done: {e}"
            );
        }
    }
}
