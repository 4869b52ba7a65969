//! Unit tests of the unbounded flavour (the concurrent paths are modelled under loom).

use super::reclaim::Spares;
use super::*;

#[test]
fn fifo_across_blocks_and_sequence_numbers() {
    let q = Unbounded::new();
    for i in 0..200u64 {
        assert_eq!(q.push(i).unwrap().seq, i);
    }
    assert_eq!(q.len(), 200);
    for i in 0..200u64 {
        let p = q.pop().unwrap();
        assert_eq!((p.seq, p.value), (i, i));
    }
    assert_eq!(q.pop().unwrap_err(), PopError::Empty);
    assert_eq!(q.len(), 0);
}

#[test]
fn len_counts_across_partial_blocks() {
    let q = Unbounded::new();
    for n in 0..100 {
        assert_eq!(q.len(), n);
        q.push(n).unwrap();
    }
    for n in (0..100).rev() {
        q.pop().unwrap();
        assert_eq!(q.len(), n);
    }
}

#[test]
fn indices_wrap_around() {
    let laps_to_wrap = (INDEX_MASK + 1) / LAP;
    let q = Unbounded::starting_at_lap(laps_to_wrap - 2);
    for i in 0..500u32 {
        q.push(i).unwrap();
        if i % 3 == 0 {
            assert_eq!(q.pop().unwrap().value, i / 3);
        }
    }
    let mut last = None;
    let len = q.len();
    let mut popped = 0;
    while let Ok(p) = q.pop() {
        if let Some(l) = last {
            assert!(p.value > l);
        }
        last = Some(p.value);
        popped += 1;
    }
    assert_eq!(popped, len);
    assert_eq!(last, Some(499));
}

/// Spares are bounded by bytes: 30 blocks of `u64`, one of a large message; a drained
/// burst leaves at most that many (and every other retired block is freed).
#[test]
fn spares_are_bounded_by_bytes() {
    assert_eq!(Spares::<u64>::LIMIT, 30);
    assert_eq!(Spares::<[u8; 4096]>::LIMIT, 1);
    let held = |q: &Unbounded<u64>| {
        q.reclaim
            .spares
            .slots
            .iter()
            .filter(|s| !s.load(Ordering::Relaxed).is_null())
            .count()
    };
    let q = Unbounded::new();
    for i in 0..10_000u64 {
        q.push(i).unwrap();
    }
    assert_eq!(held(&q), 0, "a growing queue has nothing to spare");
    for i in 0..10_000u64 {
        assert_eq!(q.pop().unwrap().value, i);
    }
    assert_eq!(held(&q), 30, "the drain keeps 30 blocks and frees the rest");
    for i in 0..100u64 {
        q.push(i).unwrap();
    }
    assert_eq!(held(&q), 30 - 3, "the next blocks come from the spares");
}

#[test]
fn close_refuses_push_and_drains() {
    let q = Unbounded::new();
    q.push(1).unwrap();
    assert!(q.close());
    assert!(!q.close());
    assert!(matches!(q.push(2), Err(PushError::Closed(2))));
    assert_eq!(q.pop().unwrap().value, 1);
    assert_eq!(q.pop().unwrap_err(), PopError::Closed);
}

#[test]
fn waiter_count_is_reported_to_senders_and_taken_out_by_the_claim() {
    let q = Unbounded::new();
    assert!(!q.push(1).unwrap().wake_receiver);
    crate::flavor::join_count(q.tail_word());
    crate::flavor::join_count(q.tail_word());
    // Each claim wakes one counted waiter and takes it out of the count.
    assert!(q.push(2).unwrap().wake_receiver);
    assert!(q.push(3).unwrap().wake_receiver);
    assert!(!q.push(4).unwrap().wake_receiver);
    assert_eq!(
        crate::flavor::release_count(q.tail_word(), 1),
        0,
        "saturates"
    );
    assert_eq!(q.len(), 4);
}
