//! Recovery: replays the segments, keeps every "published" record without a "done" record
//! (with the highest "attempts" count logged for it), truncates torn tails, and refuses (or,
//! when asked, skips) damage in the middle.
//!
//! Damage is classified by what follows it *in its segment*. If nothing valid follows, or only
//! "done" and "attempts" records (which the writer does not sync on their own, so their pages
//! can reach the disk in any order), it is the torn tail of writes that did not reach the disk:
//! the file is truncated there and the report says so ([`RecoveryReport::torn_tail`] for the
//! last segment, [`RecoveryReport::lost_tails`] for an older one). An older segment can have
//! one after a power loss, since rotation does not sync it under `OsBuffered`; its lost
//! messages are gone, and IDs stay monotonic because every later segment's header carries a
//! base ID above all of them. The "done" records dropped with a tail only mean more
//! deliveries. If a valid "published" record follows the damaged bytes, they are in the middle
//! of the segment and recovery fails with [`DurableError::Corrupt`] naming the file and offset
//! (or skips them with `skip_corrupt`).
//!
//! A last segment whose header is cut short, or which holds only zeros, is a creation that was
//! interrupted (the writer syncs a new segment's header before it writes or deletes anything
//! else): the file is removed and reported. Anywhere else a bad header fails the registration.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::format::{self, BadHeader, Parsed, Record};
use super::segment;
use super::DurableError;

/// Damaged bytes that recovery dropped.
///
/// ```
/// let d = segmq::Damage { path: "wal/00000000000000000001.seg".into(), offset: 24, bytes: 3, reason: "record cut short" };
/// assert_eq!(d.offset + d.bytes, 27);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment file.
    pub path: PathBuf,
    /// Offset of the first dropped byte.
    pub offset: u64,
    /// Bytes dropped.
    pub bytes: u64,
    /// What was wrong with the first of them.
    pub reason: &'static str,
}

/// What recovery found when a durable queue was registered; see
/// [`Publisher::recovery`](crate::Publisher::recovery).
///
/// ```
/// use segmq::{Mq, Msg, QueueOptions, SyncPolicy};
/// let dir = tempfile::tempdir().unwrap();
/// let mq = Mq::new();
/// let p = mq
///     .register_with("q", QueueOptions::new(1).durable(dir.path(), SyncPolicy::Always), |_: &Msg<u8>| Ok::<_, std::io::Error>(()))
///     .unwrap();
/// let r = p.recovery().unwrap();
/// assert_eq!((r.redelivered, r.next_id, r.torn_tail.clone(), r.skipped.len()), (0, 0, None, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Messages found without a "done" record, put back into the queue (in ID order, with
    /// their IDs).
    pub redelivered: u64,
    /// The ID the next publish gets.
    pub next_id: u64,
    /// Segment files read.
    pub segments: usize,
    /// Bytes read.
    pub bytes: u64,
    /// The torn tail of the last segment that was truncated (an interrupted write at the end of
    /// the log), or its header if its creation was interrupted (the file was removed).
    pub torn_tail: Option<Damage>,
    /// Torn tails of older segments that were truncated: writes lost in a power loss under
    /// `OsBuffered` or `Interval` (or "done" records, which are not synced). The messages in them
    /// are lost (or, for "done" records, delivered again); their IDs are not given again.
    pub lost_tails: Vec<Damage>,
    /// Damaged records skipped in the middle of the log (only with
    /// [`DurableOptions::skip_corrupt`](crate::DurableOptions::skip_corrupt)).
    pub skipped: Vec<Damage>,
}

/// A message to deliver again.
#[derive(Debug)]
pub(crate) struct PendingMsg {
    pub(crate) id: u64,
    /// Failed attempts logged for it (its next attempt is this plus one).
    pub(crate) attempts: u32,
    pub(crate) payload: Vec<u8>,
    /// Index into `Recovered::segments`.
    pub(crate) seg: usize,
    pub(crate) offset: u64,
}

/// One existing segment after recovery.
#[derive(Debug)]
pub(crate) struct RecoveredSeg {
    pub(crate) no: u64,
    pub(crate) base_id: u64,
    pub(crate) path: PathBuf,
    /// Messages in it without a "done" record.
    pub(crate) live: u64,
}

/// The result of replaying a log directory.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// In ID order.
    pub(crate) pending: Vec<PendingMsg>,
    pub(crate) segments: Vec<RecoveredSeg>,
    pub(crate) report: RecoveryReport,
}

impl Recovered {
    /// The number for the next segment (recovery refused a last segment numbered `u64::MAX`).
    pub(crate) fn next_segment(&self) -> u64 {
        self.segments.last().map_or(1, |s| s.no.saturating_add(1))
    }
}

/// Replays `dir` (created if missing).
pub(crate) fn recover(dir: &Path, skip_corrupt: bool) -> Result<Recovered, DurableError> {
    segment::ensure_dir(dir)?;
    let files = segment::list(dir)?;
    if let Some((u64::MAX, path)) = files.last() {
        return Err(DurableError::BadHeader {
            path: path.clone(),
            reason: "segment number u64::MAX leaves no number for the next segment \
                     (renumber the segments, keeping their order)",
        });
    }
    let mut report = RecoveryReport::default();
    let mut pending: BTreeMap<u64, PendingMsg> = BTreeMap::new();
    let mut segments: Vec<RecoveredSeg> = Vec::new();
    let mut next_id = 0u64;
    let n = files.len();
    for (i, (no, path)) in files.into_iter().enumerate() {
        let last = i + 1 == n;
        let buf = fs::read(&path).map_err(|e| DurableError::io(&path, "read", &e))?;
        report.segments += 1;
        report.bytes += buf.len() as u64;
        // Zeros only: the file's size reached the disk, its bytes did not (a creation
        // interrupted by a power loss; written by format version 1, which did not sync it).
        let unwritten_header = buf.iter().all(|&b| b == 0);
        let base_id = match format::parse_header(&buf) {
            Ok(b) => b,
            Err(BadHeader::Short) if last => {
                interrupted_creation(
                    dir,
                    no,
                    &path,
                    &buf,
                    "segment header cut short",
                    &mut report,
                )?;
                continue;
            }
            Err(BadHeader::Invalid(_)) if last && unwritten_header => {
                interrupted_creation(
                    dir,
                    no,
                    &path,
                    &buf,
                    "segment never written (zeros only)",
                    &mut report,
                )?;
                continue;
            }
            Err(BadHeader::Short) => {
                return Err(DurableError::BadHeader {
                    path,
                    reason: "segment header cut short (not the last segment)",
                })
            }
            Err(BadHeader::Invalid(reason)) => {
                return Err(DurableError::BadHeader { path, reason })
            }
        };
        next_id = next_id.max(base_id);
        let seg = segments.len();
        segments.push(RecoveredSeg {
            no,
            base_id,
            path: path.clone(),
            live: 0,
        });
        let mut off = format::HEADER_LEN;
        loop {
            let reason = match format::parse(&buf, off) {
                Parsed::End => break,
                Parsed::Record(Record::Published { id, payload }, next) => {
                    let msg = PendingMsg {
                        id,
                        attempts: 0,
                        payload: payload.to_vec(),
                        seg,
                        offset: off as u64,
                    };
                    if let Some(old) = pending.insert(id, msg) {
                        segments[old.seg].live -= 1;
                    }
                    segments[seg].live += 1;
                    next_id = next_id.max(id.saturating_add(1));
                    off = next;
                    continue;
                }
                Parsed::Record(Record::Attempts { id, attempts }, next) => {
                    // For an ID not pending (done, or its segment deleted): nothing to keep.
                    if let Some(msg) = pending.get_mut(&id) {
                        msg.attempts = msg.attempts.max(attempts);
                    }
                    off = next;
                    continue;
                }
                Parsed::Record(Record::Done { id }, next) => {
                    // A "done" for an ID not seen belongs to a deleted segment.
                    if let Some(old) = pending.remove(&id) {
                        segments[old.seg].live -= 1;
                    }
                    off = next;
                    continue;
                }
                Parsed::Truncated => "record cut short",
                Parsed::Invalid(reason) => reason,
            };
            let resume = format::next_valid(&buf, off + 1);
            // Only "done" and "attempts" records after it: those are not synced on their own,
            // so these are unsynced bytes of the tail that reached the disk out of order.
            let torn = resume.map_or(true, |r| only_unsynced_kinds_from(&buf, r));
            let damage = Damage {
                path: path.clone(),
                offset: off as u64,
                bytes: (if torn {
                    buf.len()
                } else {
                    resume.unwrap_or(buf.len())
                } - off) as u64,
                reason,
            };
            if torn {
                truncate(&path, off as u64)?;
                tracing::warn!(
                    path = %path.display(), offset = off, bytes = damage.bytes, last,
                    "durable log: truncated a torn tail ({reason})"
                );
                if last {
                    report.torn_tail = Some(damage);
                } else {
                    report.lost_tails.push(damage);
                }
                break;
            }
            if !skip_corrupt {
                return Err(DurableError::Corrupt {
                    path,
                    offset: off as u64,
                    reason,
                });
            }
            tracing::error!(
                path = %path.display(), offset = off, bytes = damage.bytes,
                "durable log: skipped a damaged record ({reason})"
            );
            report.skipped.push(damage);
            match resume {
                Some(r) => off = r,
                None => break,
            }
        }
    }
    report.redelivered = pending.len() as u64;
    report.next_id = next_id;
    Ok(Recovered {
        pending: pending.into_values().collect(),
        segments,
        report,
    })
}

/// Whether the valid records from `off` on (skipping damage) are all "done" or "attempts"
/// records, which the writer does not sync on their own.
fn only_unsynced_kinds_from(buf: &[u8], mut off: usize) -> bool {
    loop {
        match format::parse(buf, off) {
            Parsed::End => return true,
            Parsed::Record(Record::Published { .. }, _) => return false,
            Parsed::Record(_, next) => off = next,
            Parsed::Truncated | Parsed::Invalid(_) => match format::next_valid(buf, off + 1) {
                Some(r) => off = r,
                None => return true,
            },
        }
    }
}

/// Removes the last segment, whose creation was interrupted (it holds no record).
fn interrupted_creation(
    dir: &Path,
    no: u64,
    path: &Path,
    buf: &[u8],
    reason: &'static str,
    report: &mut RecoveryReport,
) -> Result<(), DurableError> {
    report.torn_tail = Some(Damage {
        path: path.to_owned(),
        offset: 0,
        bytes: buf.len() as u64,
        reason,
    });
    segment::remove(dir, no)?;
    tracing::warn!(path = %path.display(), "durable log: removed a segment whose creation was interrupted ({reason})");
    Ok(())
}

fn truncate(path: &Path, len: u64) -> Result<(), DurableError> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| DurableError::io(path, "open", &e))?;
    f.set_len(len)
        .map_err(|e| DurableError::io(path, "truncate", &e))?;
    f.sync_all()
        .map_err(|e| DurableError::io(path, "fsync", &e))
}
