//! The log writer: IDs, segment accounting, and group commit.
//!
//! # Group commit
//!
//! A publisher appends its record to an in-memory batch under the state mutex (which also
//! assigns its ID, so the log is in ID order), then waits until the batch holding it is
//! written (and, under [`SyncPolicy::Always`], synced). If no write is in progress it becomes
//! the *leader*: it takes the whole batch (its record and everything appended before it),
//! releases the mutex, writes the batch with one `write` call per segment piece, calls
//! `fdatasync` once, and wakes everyone. Publishers that arrive while the leader is busy
//! queue up behind it in the next batch, whose first waiter to notice leads it. So `n`
//! concurrent publishers share one `fdatasync`: throughput grows with them while a lone
//! publisher pays one sync per message.
//!
//! Under `Interval` and `OsBuffered` the same path runs without the `fdatasync` (a publish
//! still waits for its `write`, so a process crash loses nothing); under `Interval` a
//! background thread syncs every interval.
//!
//! # Segments
//!
//! The writer starts a new segment when the current one would pass the size limit; the choice
//! is made when a record is appended (under the mutex), so every message knows its segment.
//! Each segment counts its messages without a "done" record; the oldest segments are deleted
//! as soon as their count and the counts of all segments before them are zero (a prefix), so a
//! deleted segment never holds a "done" record that a kept segment still needs. The segment
//! being written is never deleted.
//!
//! After an I/O error the writer refuses everything ([`DurableError::Failed`]): after a failed
//! `fsync` the kernel may have dropped the dirty pages, so nothing can be promised about the
//! file any more. Restarting recovers from what is on disk.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::format::{self, HEADER_LEN};
use super::recovery::Recovered;
use super::segment;
use super::{DurableError, DurableOptions, SyncPolicy};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One segment's accounting.
#[derive(Debug)]
struct Seg {
    no: u64,
    base_id: u64,
    /// Messages published in it and not done.
    live: u64,
}

/// Bytes of the batch that go to one segment.
struct Piece {
    no: u64,
    base_id: u64,
    bytes: Vec<u8>,
}

struct State {
    /// Appended, not yet taken by a leader.
    pieces: Vec<Piece>,
    /// Whether `pieces` holds a "published" record (a batch of "done" records alone is not
    /// synced).
    batch_has_publish: bool,
    /// Logical end of everything appended, written, and synced (record bytes, all segments).
    appended: u64,
    written: u64,
    synced: u64,
    leader: bool,
    next_id: u64,
    failed: Option<DurableError>,
    /// Oldest first; the last is the one records are appended to.
    segs: VecDeque<Seg>,
    /// Bytes (header included) appended to the last segment.
    append_bytes: u64,
    /// The segment the writer has open; those before it are complete.
    writer_no: u64,
}

struct Io {
    file: File,
    no: u64,
    path: PathBuf,
}

/// The write-ahead log of one queue.
pub(crate) struct Wal {
    dir: PathBuf,
    policy: SyncPolicy,
    segment_bytes: u64,
    state: Mutex<State>,
    batch_done: Condvar,
    io: Mutex<Io>,
    /// Tells the `Interval` sync thread to end.
    ticker: Option<Arc<(Mutex<bool>, Condvar)>>,
}

impl Wal {
    /// Opens the log for writing after recovery: starts a fresh segment and deletes the
    /// recovered segments that hold nothing pending.
    pub(crate) fn open(opts: &DurableOptions, rec: &Recovered) -> Result<Arc<Self>, DurableError> {
        let next_id = rec.report.next_id;
        let no = rec.next_segment();
        let sync = opts.sync != SyncPolicy::OsBuffered;
        let (file, path) = segment::create(&opts.dir, no, next_id, sync)?;
        let mut segs: VecDeque<Seg> = rec
            .segments
            .iter()
            .map(|s| Seg {
                no: s.no,
                base_id: s.base_id,
                live: s.live,
            })
            .collect();
        segs.push_back(Seg {
            no,
            base_id: next_id,
            live: 0,
        });
        let ticker = match opts.sync {
            SyncPolicy::Interval(_) => Some(Arc::new((Mutex::new(false), Condvar::new()))),
            _ => None,
        };
        let wal = Arc::new(Self {
            dir: opts.dir.clone(),
            policy: opts.sync,
            segment_bytes: opts.segment_bytes,
            state: Mutex::new(State {
                pieces: Vec::new(),
                batch_has_publish: false,
                appended: 0,
                written: 0,
                synced: 0,
                leader: false,
                next_id,
                failed: None,
                segs,
                append_bytes: HEADER_LEN as u64,
                writer_no: no,
            }),
            batch_done: Condvar::new(),
            io: Mutex::new(Io { file, no, path }),
            ticker: ticker.clone(),
        });
        wal.delete_done_segments(&mut lock(&wal.state));
        if let (SyncPolicy::Interval(every), Some(t)) = (opts.sync, ticker) {
            spawn_ticker(Arc::downgrade(&wal), t, every, &opts.dir)?;
        }
        Ok(wal)
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a "published" record (started with `format::start_published`, payload after
    /// it), gives it the next ID, and waits until the policy is satisfied. Returns the ID.
    pub(crate) fn publish(&self, mut record: Vec<u8>) -> Result<u64, DurableError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.failed {
            return Err(self.failed(e));
        }
        let id = st.next_id;
        if format::finish_published(&mut record, id).is_none() {
            return Err(DurableError::Codec {
                path: self.dir.clone(),
                offset: None,
                message: format!("payload larger than {} bytes", format::MAX_BODY),
            });
        }
        st.next_id += 1;
        self.maybe_rotate(&mut st, record.len(), id);
        if let Some(seg) = st.segs.back_mut() {
            seg.live += 1;
        }
        Self::push_bytes(&mut st, &record);
        st.batch_has_publish = true;
        let end = st.appended;
        let need_sync = self.policy == SyncPolicy::Always;
        self.wait(st, end, need_sync)?;
        Ok(id)
    }

    /// Appends a "done" record for `id` and waits for its `write` (no sync: a lost "done"
    /// only means one more delivery). Deletes the segments that became fully done.
    pub(crate) fn done(&self, id: u64) -> Result<(), DurableError> {
        let mut st = lock(&self.state);
        if let Some(e) = &st.failed {
            return Err(self.failed(e));
        }
        let i = st.segs.partition_point(|s| s.base_id <= id);
        if let Some(seg) = i.checked_sub(1).and_then(|i| st.segs.get_mut(i)) {
            seg.live = seg.live.saturating_sub(1);
        }
        let mut rec = Vec::with_capacity(format::DONE_LEN);
        format::push_done(&mut rec, id);
        let next_id = st.next_id;
        self.maybe_rotate(&mut st, rec.len(), next_id);
        Self::push_bytes(&mut st, &rec);
        let end = st.appended;
        self.delete_done_segments(&mut st);
        self.wait(st, end, false)
    }

    /// Starts a new segment (in the accounting; the leader creates the file) if a record of
    /// `len` bytes would take the current one past the limit. `base_id` is at most every ID
    /// published after it (the next ID).
    fn maybe_rotate(&self, st: &mut State, len: usize, base_id: u64) {
        if st.append_bytes + len as u64 > self.segment_bytes && st.append_bytes > HEADER_LEN as u64
        {
            let no = st.segs.back().map_or(1, |s| s.no + 1);
            st.segs.push_back(Seg {
                no,
                base_id,
                live: 0,
            });
            st.append_bytes = HEADER_LEN as u64;
        }
    }

    /// Appends bytes to the batch, in the last segment's piece.
    fn push_bytes(st: &mut State, bytes: &[u8]) {
        st.append_bytes += bytes.len() as u64;
        let (no, base_id) = st.segs.back().map_or((0, 0), |s| (s.no, s.base_id));
        match st.pieces.last_mut() {
            Some(p) if p.no == no => p.bytes.extend_from_slice(bytes),
            _ => st.pieces.push(Piece {
                no,
                base_id,
                bytes: bytes.to_vec(),
            }),
        }
        st.appended += bytes.len() as u64;
    }

    /// Waits until `end` is written (and synced if `need_sync`), leading a batch when no one
    /// else is.
    fn wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        end: u64,
        need_sync: bool,
    ) -> Result<(), DurableError> {
        loop {
            let reached = if need_sync { st.synced } else { st.written };
            if reached >= end {
                return Ok(());
            }
            if let Some(e) = &st.failed {
                return Err(self.failed(e));
            }
            if st.leader {
                st = self
                    .batch_done
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            st.leader = true;
            let pieces = std::mem::take(&mut st.pieces);
            let sync = self.policy == SyncPolicy::Always && st.batch_has_publish;
            st.batch_has_publish = false;
            let batch_end = st.appended;
            drop(st);
            let result = self.write_batch(pieces, sync);
            st = lock(&self.state);
            st.leader = false;
            match result {
                Ok(writer_no) => {
                    st.written = batch_end;
                    if sync {
                        st.synced = batch_end;
                    }
                    if writer_no != st.writer_no {
                        st.writer_no = writer_no;
                        self.delete_done_segments(&mut st);
                    }
                }
                Err(e) => {
                    tracing::error!("{e}; the log refuses further writes");
                    st.failed = Some(e);
                }
            }
            self.batch_done.notify_all();
        }
    }

    /// Writes a batch (the leader only); returns the segment open afterwards.
    fn write_batch(&self, pieces: Vec<Piece>, sync: bool) -> Result<u64, DurableError> {
        let mut io = lock(&self.io);
        for p in pieces {
            if p.no != io.no {
                self.rotate(&mut io, p.no, p.base_id)?;
            }
            io.file
                .write_all(&p.bytes)
                .map_err(|e| DurableError::io(&io.path, "write", &e))?;
        }
        if sync {
            io.file
                .sync_data()
                .map_err(|e| DurableError::io(&io.path, "fsync", &e))?;
        }
        Ok(io.no)
    }

    /// Closes the current segment (synced unless `OsBuffered`) and opens segment `no`.
    fn rotate(&self, io: &mut Io, no: u64, base_id: u64) -> Result<(), DurableError> {
        let sync = self.policy != SyncPolicy::OsBuffered;
        if sync {
            io.file
                .sync_data()
                .map_err(|e| DurableError::io(&io.path, "fsync", &e))?;
        }
        let (file, path) = segment::create(&self.dir, no, base_id, sync)?;
        *io = Io { file, no, path };
        Ok(())
    }

    /// Deletes the oldest segments while every message in them is done (never the one being
    /// written). Removal errors are logged: the segment is replayed (and found done) later.
    fn delete_done_segments(&self, st: &mut State) {
        while st.segs.len() > 1 {
            let Some(front) = st.segs.front() else { break };
            if front.live > 0 || front.no >= st.writer_no {
                break;
            }
            let p = segment::path(&self.dir, front.no);
            st.segs.pop_front();
            match fs::remove_file(&p) {
                Ok(()) => tracing::debug!(path = %p.display(), "durable log: segment deleted"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), "durable log: cannot delete a done segment: {e}")
                }
            }
        }
    }

    /// Syncs what has been written (the `Interval` thread).
    fn sync_now(&self) {
        let written = lock(&self.state).written;
        let result = {
            let io = lock(&self.io);
            io.file
                .sync_data()
                .map_err(|e| DurableError::io(&io.path, "fsync", &e))
        };
        let mut st = lock(&self.state);
        match result {
            Ok(()) => st.synced = st.synced.max(written),
            Err(e) => {
                tracing::error!("{e}; the log refuses further writes");
                st.failed.get_or_insert(e);
                self.batch_done.notify_all();
            }
        }
    }

    fn failed(&self, cause: &DurableError) -> DurableError {
        DurableError::Failed {
            path: lock(&self.io).path.clone(),
            cause: Box::new(cause.clone()),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Some(t) = &self.ticker {
            *lock(&t.0) = true;
            t.1.notify_all();
        }
        if self.policy != SyncPolicy::OsBuffered {
            let io = lock(&self.io);
            if let Err(e) = io.file.sync_data() {
                tracing::warn!(path = %io.path.display(), "durable log: final fsync failed: {e}");
            }
        }
    }
}

/// Starts the `Interval` sync thread. It holds only a weak reference, and ends when the log is
/// dropped.
fn spawn_ticker(
    wal: Weak<Wal>,
    ticker: Arc<(Mutex<bool>, Condvar)>,
    every: Duration,
    dir: &Path,
) -> Result<(), DurableError> {
    let every = every.max(Duration::from_micros(100));
    std::thread::Builder::new()
        .name("segmq-wal-sync".into())
        .spawn(move || {
            let (stop, cv) = &*ticker;
            let mut stopped = lock(stop);
            loop {
                stopped = cv
                    .wait_timeout(stopped, every)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                if *stopped {
                    return;
                }
                drop(stopped);
                match wal.upgrade() {
                    Some(w) => w.sync_now(),
                    None => return,
                }
                stopped = lock(stop);
            }
        })
        .map(drop)
        .map_err(|e| DurableError::io(dir, "spawn the sync thread", &e))
}
