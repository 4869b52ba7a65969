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
//! Removal happens outside the state mutex (a removal fsyncs the directory): segments found
//! deletable are queued in order under the mutex, and removed in that order by whoever holds
//! the `removing` mutex (lock order: `removing` → `state`, never the reverse).
//!
//! # Failures
//!
//! When a write or `fsync` of a batch fails (a full disk), the leader first cuts every segment
//! the batch touched back to its length before the batch and syncs it, so that no record of a
//! refused publish can come back at the next registration; then every waiter of the batch gets
//! the error. After it the writer refuses everything ([`DurableError::Failed`]): after a failed
//! `fsync` the kernel may have dropped the dirty pages, so nothing can be promised about the
//! file any more. Restarting recovers from what is on disk. If the cut itself fails, the error
//! says so (the refused records may then come back once).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use super::format::{self, HEADER_LEN};
use super::lock::DirLock;
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
    /// The logical end of the batch that failed: its waiters get the error itself, later
    /// callers [`DurableError::Failed`].
    failed_end: u64,
    /// Oldest first; the last is the one records are appended to.
    segs: VecDeque<Seg>,
    /// Bytes (header included) appended to the last segment.
    append_bytes: u64,
    /// The segment the writer has open; those before it are complete.
    writer_no: u64,
    /// Segments found fully done, oldest first, to be removed outside this mutex.
    to_remove: VecDeque<u64>,
    /// Set by [`Wal::close`]: nothing more is appended.
    closed: bool,
}

struct Io {
    file: File,
    no: u64,
    path: PathBuf,
    /// Bytes in the file (header included).
    len: u64,
}

/// The write-ahead log of one queue.
pub(crate) struct Wal {
    dir: PathBuf,
    policy: SyncPolicy,
    segment_bytes: u64,
    state: Mutex<State>,
    batch_done: Condvar,
    io: Mutex<Io>,
    /// Held while removing queued segments, so they go in order.
    removing: Mutex<()>,
    /// Tells the `Interval` sync thread to end.
    ticker: Option<Arc<(Mutex<bool>, Condvar)>>,
    /// The directory's owner lock, held until the log is closed (or dropped).
    dir_lock: Mutex<Option<DirLock>>,
    /// Tests: bytes the "disk" still takes before a write fails as if it were full.
    #[cfg(test)]
    pub(crate) room: Mutex<Option<u64>>,
}

impl Wal {
    /// Opens the log for writing after recovery: starts a fresh segment and deletes the
    /// recovered segments that hold nothing pending.
    pub(crate) fn open(
        opts: &DurableOptions,
        rec: &Recovered,
        dir_lock: DirLock,
    ) -> Result<Arc<Self>, DurableError> {
        let next_id = rec.report.next_id;
        let no = rec.next_segment();
        // Synced before the recovered segments can be removed: IDs never go backwards.
        let (file, path) = segment::create(&opts.dir, no, next_id)?;
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
                failed_end: 0,
                segs,
                append_bytes: HEADER_LEN as u64,
                writer_no: no,
                to_remove: VecDeque::new(),
                closed: false,
            }),
            batch_done: Condvar::new(),
            io: Mutex::new(Io {
                file,
                no,
                path,
                len: HEADER_LEN as u64,
            }),
            removing: Mutex::new(()),
            ticker: ticker.clone(),
            dir_lock: Mutex::new(Some(dir_lock)),
            #[cfg(test)]
            room: Mutex::new(None),
        });
        wal.queue_done_segments(&mut lock(&wal.state));
        wal.remove_queued();
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
    #[cfg(test)]
    pub(crate) fn publish(&self, record: Vec<u8>) -> Result<u64, DurableError> {
        self.publish_many(vec![record])
            .map(|ids| ids.expect("open").start)
    }

    /// Appends "published" records (each started with `format::start_published`, payload after
    /// it) with consecutive IDs, and waits once until the policy is satisfied for all of them
    /// (one batch: one `fdatasync` under `Always`). Returns their IDs, or `None` if the log is
    /// closed. All or none: on an error none of them is in the log.
    pub(crate) fn publish_many(
        &self,
        mut records: Vec<Vec<u8>>,
    ) -> Result<Option<std::ops::Range<u64>>, DurableError> {
        if let Some(r) = records
            .iter()
            .find(|r| r.len() - format::FRAME_LEN > format::MAX_BODY)
        {
            return Err(DurableError::Codec {
                path: self.dir.clone(),
                offset: None,
                message: format!(
                    "payload of {} bytes is larger than {} bytes",
                    r.len() - format::FRAME_LEN - format::MIN_BODY,
                    format::MAX_BODY - format::MIN_BODY
                ),
            });
        }
        let mut st = lock(&self.state);
        if st.closed {
            return Ok(None);
        }
        if let Some(e) = &st.failed {
            return Err(self.failed(e));
        }
        let first = st.next_id;
        for record in &mut records {
            let id = st.next_id;
            format::finish_published(record, id).expect("length checked above");
            st.next_id += 1;
            self.maybe_rotate(&mut st, record.len(), id);
            if let Some(seg) = st.segs.back_mut() {
                seg.live += 1;
            }
            Self::push_bytes(&mut st, record);
            st.batch_has_publish = true;
        }
        let ids = first..st.next_id;
        let end = st.appended;
        let need_sync = self.policy == SyncPolicy::Always;
        let result = self.wait(st, end, need_sync);
        self.remove_queued();
        result.map(|()| Some(ids))
    }

    /// Appends a "done" record for `id` and waits for its `write` (no sync: a lost "done"
    /// only means one more delivery). Deletes the segments that became fully done.
    pub(crate) fn done(&self, id: u64) -> Result<(), DurableError> {
        let mut rec = Vec::with_capacity(format::DONE_LEN);
        format::push_done(&mut rec, id);
        self.append_unsynced(rec, Some(id))
    }

    /// Appends an "attempts" record (`id` failed `attempts` times) and waits for its `write`
    /// (no sync: a lost one only means that a crash loses the count since the last sync).
    pub(crate) fn attempted(&self, id: u64, attempts: u32) -> Result<(), DurableError> {
        let mut rec = Vec::with_capacity(format::DONE_LEN + 4);
        format::push_attempts(&mut rec, id, attempts);
        self.append_unsynced(rec, None)
    }

    /// Appends a "done" (`done` is its ID) or "attempts" record and waits for its `write`.
    fn append_unsynced(&self, rec: Vec<u8>, done: Option<u64>) -> Result<(), DurableError> {
        let mut st = lock(&self.state);
        if st.closed {
            // Nothing runs after the close (see `close`); the message is delivered again.
            tracing::debug!(msg_id = ?done, "durable log: a record after the close, dropped");
            return Ok(());
        }
        if let Some(e) = &st.failed {
            return Err(self.failed(e));
        }
        if let Some(id) = done {
            let i = st.segs.partition_point(|s| s.base_id <= id);
            if let Some(seg) = i.checked_sub(1).and_then(|i| st.segs.get_mut(i)) {
                seg.live = seg.live.saturating_sub(1);
            }
        }
        let next_id = st.next_id;
        self.maybe_rotate(&mut st, rec.len(), next_id);
        Self::push_bytes(&mut st, &rec);
        let end = st.appended;
        self.queue_done_segments(&mut st);
        let result = self.wait(st, end, false);
        self.remove_queued();
        result
    }

    /// Starts a new segment (in the accounting; the leader creates the file) if a record of
    /// `len` bytes would take the current one past the limit. `base_id` is at most every ID
    /// published after it (the next ID).
    fn maybe_rotate(&self, st: &mut State, len: usize, base_id: u64) {
        if st.append_bytes + len as u64 > self.segment_bytes && st.append_bytes > HEADER_LEN as u64
        {
            // Recovery refuses a last segment numbered u64::MAX, so this ends only after 2^64
            // segments; then the segment just grows.
            let Some(no) = st.segs.back().map_or(Some(1), |s| s.no.checked_add(1)) else {
                return;
            };
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
                return Err(if end <= st.failed_end {
                    e.clone()
                } else {
                    self.failed(e)
                });
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
                        self.queue_done_segments(&mut st);
                    }
                }
                Err(e) => {
                    tracing::error!("{e}; the log refuses further writes");
                    st.failed = Some(e);
                    st.failed_end = batch_end;
                }
            }
            self.batch_done.notify_all();
        }
    }

    /// Writes a batch (the leader only); returns the segment open afterwards. On an error the
    /// segments it touched are cut back to their length before it (see the module docs).
    fn write_batch(&self, pieces: Vec<Piece>, sync: bool) -> Result<u64, DurableError> {
        let mut io = lock(&self.io);
        let start = (io.no, io.len);
        let mut created = Vec::new();
        match self.write_pieces(&mut io, pieces, sync, &mut created) {
            Ok(()) => Ok(io.no),
            Err(e) => Err(self.undo_batch(start, &created, e)),
        }
    }

    fn write_pieces(
        &self,
        io: &mut Io,
        pieces: Vec<Piece>,
        sync: bool,
        created: &mut Vec<u64>,
    ) -> Result<(), DurableError> {
        for p in pieces {
            if p.no != io.no {
                self.rotate(io, p.no, p.base_id)?;
                created.push(p.no);
            }
            self.write_piece(io, &p.bytes)?;
        }
        if sync {
            io.file
                .sync_data()
                .map_err(|e| DurableError::io(&io.path, "fsync", &e))?;
            segment::trace(|| format!("sync batch {}", io.no));
        }
        Ok(())
    }

    fn write_piece(&self, io: &mut Io, bytes: &[u8]) -> Result<(), DurableError> {
        #[cfg(test)]
        let bytes = {
            let mut room = lock(&self.room);
            match room.as_mut() {
                Some(left) if (*left as usize) < bytes.len() => {
                    let n = *left as usize;
                    *left = 0;
                    io.file
                        .write_all(&bytes[..n])
                        .map_err(|e| DurableError::io(&io.path, "write", &e))?;
                    let full = std::io::Error::other("no space left on device (test)");
                    return Err(DurableError::io(&io.path, "write", &full));
                }
                Some(left) => {
                    *left -= bytes.len() as u64;
                    bytes
                }
                None => bytes,
            }
        };
        io.file
            .write_all(bytes)
            .map_err(|e| DurableError::io(&io.path, "write", &e))?;
        io.len += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the segments a failed batch touched back to their length before it (the first one
    /// to `start.1` bytes, the ones it created to their header), each synced. Returns the
    /// batch's error, noting in it when the cut failed too.
    fn undo_batch(&self, start: (u64, u64), created: &[u64], e: DurableError) -> DurableError {
        let cuts = std::iter::once(start).chain(created.iter().map(|&no| (no, HEADER_LEN as u64)));
        for (no, len) in cuts {
            let p = segment::path(&self.dir, no);
            let cut = OpenOptions::new()
                .write(true)
                .open(&p)
                .and_then(|f| f.set_len(len).and_then(|()| f.sync_all()));
            match cut {
                Ok(()) => segment::trace(|| format!("cut {no} to {len}")),
                Err(cut_err) => {
                    tracing::error!(path = %p.display(), "durable log: cannot remove a refused batch: {cut_err}");
                    return DurableError::Io {
                        path: p,
                        op: "remove a refused batch (its records may be delivered once after a restart)",
                        kind: cut_err.kind(),
                        message: format!("{cut_err}; after: {e}"),
                    };
                }
            }
        }
        e
    }

    /// Closes the current segment (synced unless `OsBuffered`) and opens segment `no` (its
    /// header synced under every policy).
    fn rotate(&self, io: &mut Io, no: u64, base_id: u64) -> Result<(), DurableError> {
        if self.policy != SyncPolicy::OsBuffered {
            io.file
                .sync_data()
                .map_err(|e| DurableError::io(&io.path, "fsync", &e))?;
        }
        let (file, path) = segment::create(&self.dir, no, base_id)?;
        *io = Io {
            file,
            no,
            path,
            len: HEADER_LEN as u64,
        };
        Ok(())
    }

    /// Queues the oldest segments for removal while every message in them is done (never the
    /// one being written).
    fn queue_done_segments(&self, st: &mut State) {
        while st.segs.len() > 1 {
            let Some(front) = st.segs.front() else { break };
            if front.live > 0 || front.no >= st.writer_no {
                break;
            }
            let no = front.no;
            st.segs.pop_front();
            st.to_remove.push_back(no);
        }
    }

    /// Removes the queued segments, oldest first, outside the state mutex. Removal errors are
    /// logged: the segment is replayed (and found done) at the next registration.
    fn remove_queued(&self) {
        let _order = lock(&self.removing);
        loop {
            let Some(no) = lock(&self.state).to_remove.pop_front() else {
                return;
            };
            match segment::remove(&self.dir, no) {
                Ok(()) => {
                    tracing::debug!(dir = %self.dir.display(), segment = no, "durable log: segment deleted")
                }
                Err(e) => tracing::warn!("durable log: cannot delete a done segment: {e}"),
            }
        }
    }

    /// Closes the log once its queue is stopped and no worker runs: waits for the batches in
    /// flight, syncs (unless `OsBuffered`), stops the `Interval` thread, and releases the
    /// directory's lock, so that another queue or process can take the directory over while
    /// handles of this one still exist. Later appends are refused (`publish_many` gives `None`).
    /// Idempotent.
    pub(crate) fn close(&self) {
        let mut st = lock(&self.state);
        if st.closed {
            return;
        }
        st.closed = true;
        // Every appended byte has a waiter that leads or waits for its batch.
        while (st.leader || st.written < st.appended) && st.failed.is_none() {
            st = self
                .batch_done
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(st);
        self.remove_queued();
        self.stop_ticker();
        self.final_sync();
        lock(&self.dir_lock).take();
        tracing::debug!(dir = %self.dir.display(), "durable log: closed");
    }

    fn stop_ticker(&self) {
        if let Some(t) = &self.ticker {
            *lock(&t.0) = true;
            t.1.notify_all();
        }
    }

    fn final_sync(&self) {
        if self.policy != SyncPolicy::OsBuffered {
            let io = lock(&self.io);
            if let Err(e) = io.file.sync_data() {
                tracing::warn!(path = %io.path.display(), "durable log: final fsync failed: {e}");
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
        self.stop_ticker();
        if !lock(&self.state).closed {
            self.final_sync();
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
