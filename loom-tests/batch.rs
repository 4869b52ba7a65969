//! Models of the batch operations: a claim of several slots with one CAS, across a block
//! boundary (unbounded, 3-slot blocks under loom) and across the ring's wrap-around (bounded),
//! and the wake-up count of a batch.
//!
//! The two unbounded models with *two* receivers run with 1 preemption, not 2: a batch lets
//! two receivers claim two slots of one sender that has not written them yet, and both then
//! spin (yielding) on those slots. With 2 preemptions loom's exploration of those spin paths
//! exceeds any branch budget (re-tried with the real event-listener: both hit loom's branch
//! limit of 10,000 within 20 s; earlier still running after 12 minutes with 200,000); with 1
//! they finish in seconds. `unbounded_batch_boundary_at_bound_two` covers the same claim,
//! boundary and self hand-off with one receiver at bound 2. At bound 1 they still catch planted faults: a batch that wakes only one parked
//! receiver deadlocks `one_batch_wakes_as_many_receivers_as_messages`, and a batch pop that
//! does not stop at `tail` crashes `unbounded_batch_across_a_block_boundary`.

use loom::thread;
use segmq::{Queue, TryRecvError};

use crate::{model, model_with_bound};

/// One message already queued, then a batch of 4 sent while two receivers take batches: the
/// batch fills the rest of the first block (claiming its last slot, so it links the next
/// block) and continues in the second. Exactly-once, and each receiver sees FIFO order.
#[test]
fn unbounded_batch_across_a_block_boundary() {
    model_with_bound(1, || {
        let q = Queue::unbounded();
        q.send(0u32).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || assert_eq!(q.send_batch([1, 2, 3, 4]), Ok(4)))
        };
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                q.recv_batch(&mut buf, 2).unwrap();
                buf
            })
        };
        let mut mine = Vec::new();
        while mine.len() < 2 {
            q.recv_batch(&mut mine, 3).unwrap();
        }
        sender.join().unwrap();
        let theirs = receiver.join().unwrap();
        for got in [&mine, &theirs] {
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "FIFO within a receiver"
            );
        }
        let mut all: Vec<u32> = mine.into_iter().chain(theirs).collect();
        q.try_recv_batch(&mut all, 10).ok();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4]);
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Capacity 2 with the head moved to the second slot: a blocking batch of 3 claims the free
/// slot before the ring's end, then (a claim never passes the last slot, invariant 4 of
/// `flavor/bounded.rs`) the next lap's from slot 0, waits for room, and is woken by batch
/// receives that free slots (a lost wake-up deadlocks the model). FIFO and exactly-once.
///
/// Fails if: `Shape::advance` steps a claim of more than one slot to `pos + count` also when
/// it ends at the ring's last slot (no step to the next lap): the next claim addresses a slot
/// past the ring (loom panics on the access).
#[test]
fn bounded_batch_across_the_wrap_around() {
    model(|| {
        let q = Queue::bounded(2);
        q.send(0u32).unwrap();
        assert_eq!(q.recv(), Ok(0));
        let sender = {
            let q = q.clone();
            thread::spawn(move || assert_eq!(q.send_batch([1, 2, 3]), Ok(3)))
        };
        let mut got = Vec::new();
        while got.len() < 3 {
            q.recv_batch(&mut got, 2).unwrap();
        }
        sender.join().unwrap();
        assert_eq!(got, [1, 2, 3]);
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Two receivers park on an empty queue; one batch of 2 must wake both (the batch wakes as
/// many parked receivers as it sent messages; waking one would deadlock the model).
#[test]
fn one_batch_wakes_as_many_receivers_as_messages() {
    model_with_bound(1, || {
        let q = Queue::unbounded();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.recv().unwrap())
            })
            .collect();
        assert_eq!(q.send_batch([1u32, 2]), Ok(2));
        let mut got: Vec<u32> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// Two concurrent batch pushes on the ring (capacity 3, one message queued, invariant 4 of
/// `flavor/bounded.rs`): each claims a run of free slots with one CAS while the main thread
/// frees one. Whatever each batch got in (a prefix), exactly once and in its order; the rest
/// is handed back in order.
///
/// Fails if: `run_from` extends the run without checking the next slots' stamps (its `break`
/// made `if false`): a batch claims a slot the other sender or the receiver still owns (loom
/// reports the conflicting cell access).
#[test]
fn two_batch_pushes_on_the_ring() {
    model(|| {
        let q = Queue::bounded(3);
        q.send(0u32).unwrap();
        let senders: Vec<_> = [[10u32, 11], [20, 21]]
            .into_iter()
            .map(|batch| {
                let q = q.clone();
                thread::spawn(move || match q.try_send_batch(batch) {
                    Ok(n) => (n, Vec::new()),
                    Err(e) => (e.accepted(), e.into_rest()),
                })
            })
            .collect();
        let first = q.try_recv().ok();
        let results: Vec<_> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        let mut got: Vec<u32> = first.into_iter().collect();
        got.extend(std::iter::from_fn(|| q.try_recv().ok()));
        for (p, (accepted, rest)) in [1u32, 2].into_iter().zip(results) {
            let all = [p * 10, p * 10 + 1];
            let mine: Vec<_> = got.iter().copied().filter(|v| v / 10 == p).collect();
            assert_eq!(mine, all[..accepted], "per-sender FIFO, accepted prefix");
            assert_eq!(rest, all[accepted..], "the rest handed back in order");
        }
        assert!(got.contains(&0));
    });
}

/// The unbounded batch paths at preemption bound 2, with one receiver (the two-receiver
/// models above run at bound 1, see the module docs): one message queued, a batch of 4 crosses
/// the block boundary (its claim covers the block's last slot, so it links the next block and
/// continues there) while the main thread takes batches, reading the first block's last slot
/// and starting its destruction while the batch may still be writing. FIFO, exactly once, and
/// both blocks freed (loom's `Track` in each block).
///
/// Fails if: `claim_tail` clamps its claim to `BLOCK_CAP + 1 - offset` instead of
/// `BLOCK_CAP - offset` (the claim takes the lap's spare offset as a slot: an out-of-block
/// access, which loom reports).
#[test]
fn unbounded_batch_boundary_at_bound_two() {
    model(|| {
        let q = Queue::unbounded();
        q.send(0u32).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || assert_eq!(q.send_batch([1, 2, 3, 4]), Ok(4)))
        };
        let mut got = Vec::new();
        while got.len() < 5 {
            q.recv_batch(&mut got, 2).unwrap();
        }
        sender.join().unwrap();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// A single send and a batch send race over a block boundary: one message queued, then
/// `send(1)` and `send_batch([10, 11])` from two threads, 4 messages over 3-slot blocks, so
/// whichever claim takes the block's last slot (one slot or two) links the next block; the
/// main thread takes one message with `recv` and the rest with `recv_batch`. The single and
/// the batch operations share one claim step per end (`claim_tail`, `claim_head`), so this is
/// the model where the two meet. Exactly once, FIFO per producer.
///
/// Fails if: `claim_tail` decides "this claim fills the block" from its first slot
/// (`offset + 1 == BLOCK_CAP`, the single push's test before the claim was shared): a batch
/// that ends on the last slot links no block, and the next claim spins at the boundary for
/// ever (loom reports the spin).
#[test]
fn single_and_batch_claims_race_for_a_block_boundary() {
    model(|| {
        let q = Queue::unbounded();
        q.send(0u32).unwrap();
        let single = {
            let q = q.clone();
            thread::spawn(move || q.send(1).unwrap())
        };
        let batch = {
            let q = q.clone();
            thread::spawn(move || assert_eq!(q.send_batch([10, 11]), Ok(2)))
        };
        let mut got = vec![q.recv().unwrap()];
        while got.len() < 4 {
            q.recv_batch(&mut got, 3).unwrap();
        }
        single.join().unwrap();
        batch.join().unwrap();
        assert_eq!(got[0], 0, "FIFO: the queued message first");
        let tens: Vec<_> = got.iter().copied().filter(|&v| v >= 10).collect();
        assert_eq!(tens, [10, 11], "per-producer FIFO");
        got.sort_unstable();
        assert_eq!(got, [0, 1, 10, 11], "exactly once");
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}
