//! Recovery on crafted files: torn tails, damaged records, bad headers, and a proptest over
//! random record sequences, truncation points and bit flips.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use proptest::prelude::*;

use super::format::{self, push_done, push_published, HEADER_LEN};
use super::recovery::recover;
use super::segment;
use super::DurableError;

fn write_seg(dir: &Path, no: u64, base_id: u64, records: &[u8]) -> std::path::PathBuf {
    let p = segment::path(dir, no);
    let mut b = format::header(base_id).to_vec();
    b.extend_from_slice(records);
    fs::write(&p, b).unwrap();
    p
}

fn pending_ids(dir: &Path, skip: bool) -> Result<Vec<(u64, Vec<u8>)>, DurableError> {
    recover(dir, skip).map(|r| r.pending.into_iter().map(|p| (p.id, p.payload)).collect())
}

#[test]
fn empty_and_missing_directories_recover_to_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    let r = recover(&dir, false).unwrap();
    assert!(r.pending.is_empty() && r.segments.is_empty());
    assert_eq!((r.report.next_id, r.next_segment()), (0, 1));
    assert!(dir.is_dir(), "created");
}

#[test]
fn pending_are_published_minus_done_in_id_order_and_ids_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"zero");
    push_published(&mut a, 1, b"one");
    push_done(&mut a, 0);
    write_seg(tmp.path(), 1, 0, &a);
    let mut b = Vec::new();
    push_published(&mut b, 3, b"three");
    push_done(&mut b, 99); // unknown: its segment was deleted
    write_seg(tmp.path(), 2, 2, &b);
    let r = recover(tmp.path(), false).unwrap();
    let ids: Vec<_> = r.pending.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(r.report.next_id, 4);
    assert_eq!(r.report.redelivered, 2);
    assert_eq!(
        r.segments.iter().map(|s| s.live).collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(r.next_segment(), 3);
}

#[test]
fn pending_messages_keep_their_highest_logged_attempt_count() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"zero");
    format::push_attempts(&mut a, 0, 2);
    format::push_attempts(&mut a, 0, 1);
    push_published(&mut a, 1, b"one");
    format::push_attempts(&mut a, 1, 1);
    push_done(&mut a, 1);
    format::push_attempts(&mut a, 7, 3); // not pending: ignored
    write_seg(tmp.path(), 1, 0, &a);
    let r = recover(tmp.path(), false).unwrap();
    let got: Vec<_> = r.pending.iter().map(|p| (p.id, p.attempts)).collect();
    assert_eq!(got, [(0, 2)]);
}

#[test]
fn version_1_segments_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let mut h = format::header(3);
    h[8..10].copy_from_slice(&1u16.to_le_bytes());
    let crc = crc32c::crc32c(&h[..20]);
    h[20..24].copy_from_slice(&crc.to_le_bytes());
    let mut b = h.to_vec();
    push_published(&mut b, 3, b"old");
    push_published(&mut b, 4, b"older");
    push_done(&mut b, 3);
    fs::write(segment::path(tmp.path(), 1), b).unwrap();
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(pending_of(&r), [(4, b"older".to_vec())]);
    assert_eq!(r.report.next_id, 5);
}

fn pending_of(r: &super::recovery::Recovered) -> Vec<(u64, Vec<u8>)> {
    r.pending
        .iter()
        .map(|p| (p.id, p.payload.clone()))
        .collect()
}

#[test]
fn next_id_comes_from_the_header_when_every_record_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    write_seg(tmp.path(), 7, 1234, &[]);
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!((r.report.next_id, r.next_segment()), (1234, 8));
}

#[test]
fn a_torn_tail_is_truncated_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"kept");
    let good = HEADER_LEN + a.len();
    push_published(&mut a, 1, b"torn record");
    a.truncate(a.len() - 4);
    let p = write_seg(tmp.path(), 1, 0, &a);
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(r.pending.len(), 1);
    let torn = r.report.torn_tail.clone().unwrap();
    assert_eq!((torn.path, torn.offset), (p.clone(), good as u64));
    assert_eq!(fs::metadata(&p).unwrap().len(), good as u64, "truncated");
    // A second recovery sees a clean log.
    assert_eq!(recover(tmp.path(), false).unwrap().report.torn_tail, None);
}

#[test]
fn zeros_at_the_end_are_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"x");
    a.extend_from_slice(&[0u8; 100]);
    write_seg(tmp.path(), 1, 0, &a);
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(r.pending.len(), 1);
    assert_eq!(r.report.torn_tail.unwrap().bytes, 100);
}

#[test]
fn a_damaged_record_in_the_middle_stops_recovery_with_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"first");
    let bad_at = a.len();
    push_published(&mut a, 1, b"second");
    push_published(&mut a, 2, b"third");
    a[bad_at + format::FRAME_LEN + 10] ^= 0x40; // a payload byte of record 1
    let p = write_seg(tmp.path(), 1, 0, &a);
    let err = recover(tmp.path(), false).unwrap_err();
    assert_eq!(
        err,
        DurableError::Corrupt {
            path: p.clone(),
            offset: (HEADER_LEN + bad_at) as u64,
            reason: "checksum mismatch"
        }
    );
    assert!(err.to_string().contains(&p.display().to_string()));
    // Opting in: skipped and reported, the rest recovered.
    let r = recover(tmp.path(), true).unwrap();
    assert_eq!(r.pending.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 2]);
    assert_eq!(r.report.skipped.len(), 1);
    assert_eq!(r.report.skipped[0].offset, (HEADER_LEN + bad_at) as u64);
}

#[test]
fn a_torn_tail_of_an_older_segment_is_truncated_and_reported_and_ids_stay_monotonic() {
    // After a power loss under `OsBuffered` (rotation does not sync the old segment): segment
    // 1 lost the end of record 1 (and a record 2 that never reached the disk), segment 2 is
    // intact.
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"first");
    let good = HEADER_LEN + a.len();
    push_published(&mut a, 1, b"second");
    a.truncate(a.len() - 1);
    let p = write_seg(tmp.path(), 1, 0, &a);
    let mut b = Vec::new();
    push_published(&mut b, 3, b"later");
    write_seg(tmp.path(), 2, 3, &b);
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(r.pending.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 3]);
    assert_eq!(r.report.torn_tail, None);
    let lost = &r.report.lost_tails;
    assert_eq!(lost.len(), 1);
    assert_eq!(
        (&lost[0].path, lost[0].offset, lost[0].reason),
        (&p, good as u64, "record cut short")
    );
    assert_eq!(r.report.next_id, 4);
    assert_eq!(fs::metadata(&p).unwrap().len(), good as u64, "truncated");
    // Even with every record of segment 2 gone, its header keeps IDs above the lost ones.
    write_seg(tmp.path(), 2, 3, &[]);
    assert_eq!(recover(tmp.path(), false).unwrap().report.next_id, 3);
}

#[test]
fn damage_followed_only_by_done_records_is_a_torn_tail() {
    // "done" batches are not synced: their pages can reach the disk out of order, leaving a
    // hole before later "done" records.
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"zero");
    push_published(&mut a, 1, b"one");
    let hole = HEADER_LEN + a.len();
    push_done(&mut a, 0);
    let hole_len = a.len() + HEADER_LEN - hole;
    push_done(&mut a, 1);
    format::push_attempts(&mut a, 1, 1);
    let p = write_seg(tmp.path(), 1, 0, &a);
    let mut bytes = fs::read(&p).unwrap();
    bytes[hole..hole + hole_len].fill(0);
    fs::write(&p, &bytes).unwrap();
    let r = recover(tmp.path(), false).unwrap();
    // Both come back (their "done" records are dropped with the tail): more deliveries, no loss.
    assert_eq!(r.pending.iter().map(|p| p.id).collect::<Vec<_>>(), [0, 1]);
    let torn = r.report.torn_tail.unwrap();
    assert_eq!(
        (torn.offset, torn.bytes),
        (hole as u64, (bytes.len() - hole) as u64)
    );
    assert_eq!(fs::metadata(&p).unwrap().len(), hole as u64);
    // A "published" record after the hole is still corruption.
    let mut b = Vec::new();
    push_published(&mut b, 2, b"two");
    bytes.truncate(hole);
    bytes.extend_from_slice(&[0u8; 17]);
    bytes.extend_from_slice(&b);
    fs::write(&p, &bytes).unwrap();
    assert!(matches!(
        recover(tmp.path(), false),
        Err(DurableError::Corrupt { offset, .. }) if offset == hole as u64
    ));
}

#[test]
fn a_segment_numbered_u64_max_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_seg(tmp.path(), 1, 0, &[]);
    let p = write_seg(tmp.path(), u64::MAX, 5, &[]);
    match recover(tmp.path(), false) {
        Err(e @ DurableError::BadHeader { .. }) => {
            assert_eq!(e.path(), p);
            assert!(e.to_string().contains("u64::MAX"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_last_segment_of_zeros_only_is_an_interrupted_creation() {
    // Format version 1 did not sync a new segment under `OsBuffered`: a power loss could leave
    // its size on disk and zeros in it.
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"kept");
    write_seg(tmp.path(), 1, 0, &a);
    let zeros = segment::path(tmp.path(), 2);
    fs::write(&zeros, [0u8; HEADER_LEN]).unwrap();
    let r = recover(tmp.path(), false).unwrap();
    assert_eq!(r.pending.len(), 1);
    assert_eq!(r.report.torn_tail.unwrap().path, zeros);
    assert!(!zeros.exists());
    // Zeros followed by anything else are not that: refused.
    let mut b = vec![0u8; HEADER_LEN];
    push_published(&mut b, 1, b"x");
    fs::write(&zeros, b).unwrap();
    assert!(matches!(
        recover(tmp.path(), false),
        Err(DurableError::BadHeader { .. })
    ));
}

#[test]
fn a_corrupt_length_pointing_past_the_end_is_not_taken_for_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = Vec::new();
    push_published(&mut a, 0, b"first");
    let bad_at = a.len();
    push_published(&mut a, 1, b"second");
    push_published(&mut a, 2, b"third");
    a[bad_at + 2] = 0x10; // length becomes ~1 MiB: past the end
    write_seg(tmp.path(), 1, 0, &a);
    assert!(matches!(
        recover(tmp.path(), false),
        Err(DurableError::Corrupt { offset, .. }) if offset == (HEADER_LEN + bad_at) as u64
    ));
}

#[test]
fn headers_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let p = segment::path(tmp.path(), 1);
    fs::write(&p, b"not a segment at all, but long enough").unwrap();
    assert!(
        matches!(recover(tmp.path(), false), Err(DurableError::BadHeader { path, .. }) if path == p)
    );
    // A short header in the last segment: its creation was interrupted; removed.
    write_seg(tmp.path(), 1, 0, &[]);
    fs::write(segment::path(tmp.path(), 2), &format::header(5)[..10]).unwrap();
    let r = recover(tmp.path(), false).unwrap();
    assert!(r.report.torn_tail.is_some());
    assert!(!segment::path(tmp.path(), 2).exists());
    // ... but not in an older one.
    fs::write(segment::path(tmp.path(), 2), &format::header(5)[..10]).unwrap();
    write_seg(tmp.path(), 3, 5, &[]);
    assert!(matches!(
        recover(tmp.path(), false),
        Err(DurableError::BadHeader { .. })
    ));
}

#[derive(Debug, Clone)]
enum Op {
    Publish(Vec<u8>),
    /// Done for the `n`-th published message (modulo the count so far).
    Done(usize),
    /// Start a new segment.
    Rotate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Publish),
        3 => any::<usize>().prop_map(Op::Done),
        1 => Just(Op::Rotate),
    ]
}

/// Per segment: its path, and each record's end offset with the pending set after it.
type Built = Vec<(std::path::PathBuf, Vec<(usize, BTreeMap<u64, Vec<u8>>)>)>;

/// Writes the ops as segments; returns, per segment, each record's end offset and the
/// pending set after it.
fn build(dir: &Path, ops: &[Op]) -> Built {
    let mut segs = Vec::new();
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    let mut pending = BTreeMap::new();
    let mut published: Vec<u64> = Vec::new();
    let mut next_id = 0u64;
    let mut base = 0u64;
    let mut flush = |buf: &mut Vec<u8>, ends: &mut Vec<_>, base: u64| {
        let no = segs.len() as u64 + 1;
        let p = write_seg(dir, no, base, buf);
        segs.push((p, std::mem::take(ends)));
        buf.clear();
    };
    for op in ops {
        match op {
            Op::Publish(payload) => {
                push_published(&mut buf, next_id, payload);
                pending.insert(next_id, payload.clone());
                published.push(next_id);
                next_id += 1;
            }
            Op::Done(n) if !published.is_empty() => {
                let id = published[n % published.len()];
                push_done(&mut buf, id);
                pending.remove(&id);
            }
            Op::Done(_) => continue,
            Op::Rotate => {
                flush(&mut buf, &mut ends, base);
                base = next_id;
                continue;
            }
        }
        ends.push((HEADER_LEN + buf.len(), pending.clone()));
    }
    flush(&mut buf, &mut ends, base);
    segs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Cutting the last segment anywhere loses exactly the records after the cut, reports a
    /// torn tail when the cut is inside a record, and never fails.
    #[test]
    fn truncation_anywhere_recovers_the_complete_prefix(ops in proptest::collection::vec(op(), 0..40), cut in any::<prop::sample::Index>()) {
        let tmp = tempfile::tempdir().unwrap();
        let segs = build(tmp.path(), &ops);
        let (last, ends) = segs.last().unwrap();
        let full = fs::metadata(last).unwrap().len() as usize;
        let at = HEADER_LEN + cut.index(full - HEADER_LEN + 1);
        let bytes = fs::read(last).unwrap();
        fs::write(last, &bytes[..at]).unwrap();
        // Pending after the last complete record before the cut (or at the end of the
        // previous segments).
        let before: BTreeMap<u64, Vec<u8>> = ends
            .iter()
            .rev()
            .find(|(end, _)| *end <= at)
            .map(|(_, p)| p.clone())
            .or_else(|| segs.iter().rev().skip(1).find_map(|(_, e)| e.last().map(|(_, p)| p.clone())))
            .unwrap_or_default();
        let r = recover(tmp.path(), false).unwrap();
        let got: BTreeMap<u64, Vec<u8>> = r.pending.into_iter().map(|p| (p.id, p.payload)).collect();
        prop_assert_eq!(got, before);
        let on_boundary = at == HEADER_LEN || ends.iter().any(|(end, _)| *end == at);
        prop_assert_eq!(r.report.torn_tail.is_some(), !on_boundary);
    }

    /// Flipping any bit never panics and never invents a message: recovery fails with an
    /// error naming a segment, or returns messages that were really published.
    #[test]
    fn bit_flips_never_panic_or_invent(ops in proptest::collection::vec(op(), 1..30), which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), bit in 0u8..8, skip in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let segs = build(tmp.path(), &ops);
        let mut all = BTreeMap::new();
        for op in &ops {
            if let Op::Publish(p) = op {
                all.insert(all.len() as u64, p.clone());
            }
        }
        let (path, _) = &segs[which.index(segs.len())];
        let mut bytes = fs::read(path).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        fs::write(path, &bytes).unwrap();
        match pending_ids(tmp.path(), skip) {
            Ok(pending) => {
                for (id, payload) in pending {
                    prop_assert_eq!(all.get(&id), Some(&payload));
                }
            }
            Err(e) => {
                prop_assert!(e.path().starts_with(tmp.path()), "{}", e);
                prop_assert!(matches!(e, DurableError::Corrupt { .. } | DurableError::BadHeader { .. }), "{}", e);
            }
        }
    }
}
