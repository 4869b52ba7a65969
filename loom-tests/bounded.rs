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
