//! Models of `Queue::bounded(n)` at the full/empty boundary.

use loom::thread;
use segmq::{Queue, RecvError, SendError, TryRecvError, TrySendError};

use crate::model;

/// Capacity 1: a sender sends 2 while the main thread receives 2, so the sender must park on
/// "full" and be woken by the receive (a lost wake-up deadlocks the model); the ring wraps.
#[test]
fn blocked_sender_woken_by_a_receiver() {
    model(|| {
        let q = Queue::bounded(1);
        let sender = {
            let q = q.clone();
            thread::spawn(move || {
                q.send(1u32).unwrap();
                q.send(2).unwrap();
            })
        };
        assert_eq!(q.recv(), Ok(1));
        assert_eq!(q.recv(), Ok(2));
        sender.join().unwrap();
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Capacity 2, one sender and two receivers at the full/empty boundary: exactly-once.
#[test]
fn full_empty_boundary_with_three_threads() {
    model(|| {
        let q = Queue::bounded(2);
        q.send(0u32).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || {
                q.send(1).unwrap();
                q.send(2).unwrap();
            })
        };
        let receiver = {
            let q = q.clone();
            thread::spawn(move || q.recv().unwrap())
        };
        let mut got = vec![q.recv().unwrap(), receiver.join().unwrap()];
        sender.join().unwrap();
        got.extend(q.try_iter());
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2]);
    });
}

/// Close races with a sender blocked on a full queue and a receiver: the sender wakes and gets
/// its message back unless it went in; whatever went in is received exactly once.
#[test]
fn close_races_with_blocked_sender_and_receiver() {
    model(|| {
        let q = Queue::bounded(1);
        q.send(0u32).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(1))
        };
        let closer = {
            let q = q.clone();
            thread::spawn(move || {
                q.close();
            })
        };
        let mut got: Vec<u32> = Vec::new();
        while let Ok(v) = q.recv() {
            got.push(v);
        }
        closer.join().unwrap();
        match sender.join().unwrap() {
            Ok(()) => assert_eq!(got, [0, 1]),
            Err(SendError(v)) => {
                assert_eq!(v, 1);
                assert_eq!(got, [0]);
            }
        }
        assert_eq!(q.recv(), Err(RecvError));
        assert!(matches!(q.try_send(9), Err(TrySendError::Closed(9))));
    });
}

/// `force_send` on a full ring of capacity 1, racing a receiver that drains until close and
/// the close itself: each message is received, handed back as displaced, or refused by the
/// close (given back), exactly once, and the receiver ends.
///
/// Fails if: the displacement moves `tail` with a plain store of the index it computed
/// instead of a CAS that keeps the word's bits (invariant 3): a close (or a receiver's waiter
/// registration) between its load and its store is wiped out; the receiver then never ends
/// (loom stops the model at its branch limit).
#[test]
fn force_send_racing_a_receiver_and_close() {
    model(|| {
        let q = Queue::bounded(1);
        q.send(0u32).unwrap();
        let displacer = {
            let q = q.clone();
            thread::spawn(move || match q.force_send(10) {
                Ok(displaced) => displaced,
                Err(SendError(refused)) => Some(refused),
            })
        };
        let receiver = {
            let q = q.clone();
            thread::spawn(move || std::iter::from_fn(|| q.recv().ok()).collect::<Vec<u32>>())
        };
        q.close();
        let handed_back = displacer.join().unwrap();
        let mut all = receiver.join().unwrap();
        all.extend(handed_back);
        all.sort_unstable();
        assert_eq!(all, [0, 10], "exactly once");
    });
}
