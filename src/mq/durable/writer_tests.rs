//! The writer against injected faults and in its file-system order: a full disk in the middle
//! of a batch, a batch spanning a rotation, one sync per `publish_batch`, and the directory
//! syncs (parents of a created log directory, a new segment before any removal, a removal).
//! The steps are read from `segment::TRACE`, which records this thread's file-system steps;
//! every write here is led by the test thread (one publisher), so the trace is complete.

use std::path::Path;
use std::sync::Arc;

use super::format::{self, HEADER_LEN};
use super::recovery::recover;
use super::segment::{self, TRACE};
use super::writer::Wal;
use super::{lock, DurableError, DurableOptions, SyncPolicy};
use crate::{Mq, Msg, QueueOptions};

const POLICIES: [SyncPolicy; 3] = [
    SyncPolicy::Always,
    SyncPolicy::Interval(std::time::Duration::from_secs(3600)),
    SyncPolicy::OsBuffered,
];

fn open(dir: &Path, policy: SyncPolicy, segment_bytes: u64) -> Arc<Wal> {
    segment::ensure_dir(dir).unwrap();
    let dir_lock = lock::acquire(dir).unwrap();
    let rec = recover(dir, false).unwrap();
    let opts = DurableOptions::new(dir, policy).segment_bytes(segment_bytes);
    Wal::open(&opts, &rec, dir_lock).unwrap()
}

fn record(payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    format::start_published(&mut r);
    r.extend_from_slice(payload);
    r
}

fn take_trace() -> Vec<String> {
    TRACE.with(|t| std::mem::take(&mut *t.borrow_mut()))
}

fn pending_ids(dir: &Path) -> Vec<u64> {
    recover(dir, false)
        .unwrap()
        .pending
        .iter()
        .map(|p| p.id)
        .collect()
}

#[test]
fn a_full_disk_in_the_middle_of_a_batch_leaves_none_of_the_batch_in_the_log() {
    for policy in POLICIES {
        let tmp = tempfile::tempdir().unwrap();
        let wal = open(tmp.path(), policy, 1 << 20);
        assert_eq!(wal.publish(record(b"before")).unwrap(), 0);
        let batch = vec![record(b"batch 1"), record(b"batch 2"), record(b"batch 3")];
        // Two whole records of the batch fit, then the disk is full inside the third.
        *wal.room.lock().unwrap() = Some((2 * batch[0].len() + 5) as u64);
        let err = wal.publish_many(batch).unwrap_err();
        let seg1 = segment::path(tmp.path(), 1);
        assert!(
            matches!(&err, DurableError::Io { path, op: "write", .. } if *path == seg1),
            "{err:?}"
        );
        assert!(take_trace().contains(&format!(
            "cut 1 to {}",
            HEADER_LEN + record(b"before").len()
        )));
        // The log refuses from now on, and says why.
        assert!(matches!(
            wal.publish(record(b"after")),
            Err(DurableError::Failed { .. })
        ));
        drop(wal);
        // The refusal was truthful: none of the three comes back, nothing is torn.
        let r = recover(tmp.path(), false).unwrap();
        assert_eq!(
            r.pending.iter().map(|p| p.id).collect::<Vec<_>>(),
            [0],
            "{policy:?}"
        );
        assert_eq!((r.report.torn_tail, r.report.next_id), (None, 1));
    }
}

#[test]
fn a_full_disk_after_a_rotation_in_the_batch_cuts_both_segments_back() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = open(tmp.path(), SyncPolicy::Always, 4096);
    let payload = [7u8; 1000];
    for id in 0..3 {
        assert_eq!(wal.publish(record(&payload)).unwrap(), id);
    }
    let seg1_len = HEADER_LEN + 3 * record(&payload).len();
    // The first record of the batch fills segment 1, the other two go to segment 2; the disk
    // is full inside the third.
    let batch = vec![record(&payload), record(&payload), record(&payload)];
    *wal.room.lock().unwrap() = Some((2 * batch[0].len() + 10) as u64);
    take_trace();
    wal.publish_many(batch).unwrap_err();
    let steps = take_trace();
    assert!(steps.contains(&format!("cut 1 to {seg1_len}")), "{steps:?}");
    assert!(
        steps.contains(&format!("cut 2 to {HEADER_LEN}")),
        "{steps:?}"
    );
    drop(wal);
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(
        r.pending.iter().map(|p| p.id).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert_eq!(r.report.torn_tail, None);
    // Segment 2's header (base ID 4) keeps the refused IDs from being given again.
    assert_eq!(r.report.next_id, 4);
}

#[test]
fn publish_batch_syncs_once_per_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let p = mq
        .register_with(
            "batch",
            QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
            |_: &Msg<u64>| Ok::<_, std::io::Error>(()),
        )
        .unwrap();
    take_trace();
    assert_eq!(
        p.publish_batch(0..10u64).unwrap(),
        (0..10).collect::<Vec<_>>()
    );
    let syncs = take_trace()
        .into_iter()
        .filter(|s| s.starts_with("sync batch"))
        .count();
    assert_eq!(syncs, 1);
    mq.stop_timeout(std::time::Duration::ZERO);
    drop(mq);
    assert_eq!(pending_ids(tmp.path()), (0..10).collect::<Vec<_>>());
}

#[test]
fn creating_the_log_directory_syncs_the_parent_of_each_new_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = a.join("b");
    take_trace();
    segment::ensure_dir(&b).unwrap();
    let d = |p: &Path| p.display().to_string();
    assert_eq!(
        take_trace(),
        [
            format!("mkdir {}", d(&a)),
            format!("sync dir {}", d(tmp.path())),
            format!("mkdir {}", d(&b)),
            format!("sync dir {}", d(&a)),
        ]
    );
    segment::ensure_dir(&b).unwrap();
    assert!(take_trace().is_empty(), "nothing to do the second time");
}

#[test]
fn a_new_segment_is_on_disk_before_an_old_one_is_removed_and_removals_sync_the_directory() {
    for policy in POLICIES {
        let tmp = tempfile::tempdir().unwrap();
        let wal = open(tmp.path(), policy, 1 << 20);
        let id = wal.publish(record(b"x")).unwrap();
        wal.done(id).unwrap();
        drop(wal);
        // Reopening starts segment 2 and removes segment 1 (all done). Under every policy the
        // new header and its directory entry are synced first, so that a power loss cannot
        // leave a torn segment 2 without segment 1 (IDs would start again at 0).
        take_trace();
        let wal = open(tmp.path(), policy, 1 << 20);
        let dir = format!("sync dir {}", tmp.path().display());
        assert_eq!(
            take_trace(),
            ["sync header 2", &dir, "remove 1", &dir],
            "{policy:?}"
        );
        drop(wal);
        assert_eq!(recover(tmp.path(), false).unwrap().report.next_id, 1);
    }
}
