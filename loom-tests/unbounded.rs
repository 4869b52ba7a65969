//! Models of `Queue::unbounded()` (3-slot blocks under loom).

use std::task::Poll;

use loom::thread;
use segmq::{Queue, RecvError, TryRecvError};

use crate::{model, poll_once};

/// Two senders push 2 messages each (4 > 3 slots: one block boundary); the main thread
/// receives all of them with blocking `recv`. Per-producer FIFO and exactly-once.
#[test]
fn send_recv_across_a_block_boundary() {
    model(|| {
        let q = Queue::unbounded();
        let senders: Vec<_> = (0..2u32)
            .map(|p| {
                let q = q.clone();
                thread::spawn(move || {
                    q.send(p * 10).unwrap();
                    q.send(p * 10 + 1).unwrap();
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.recv().unwrap());
        }
        for s in senders {
            s.join().unwrap();
        }
        for p in 0..2u32 {
            let mine: Vec<_> = got.iter().copied().filter(|v| v / 10 == p).collect();
            assert_eq!(mine, [p * 10, p * 10 + 1], "per-producer FIFO");
        }
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Concurrent sender and receivers around a block boundary (2 prefilled, 2 sent while two
/// receivers take 2 each): each message is received exactly once, per-producer FIFO holds.
#[test]
fn senders_and_receivers_conserve_messages() {
    model(|| {
        let q = Queue::unbounded();
        q.send(0u32).unwrap();
        q.send(1).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || {
                q.send(2).unwrap();
                q.send(3).unwrap();
            })
        };
        let receiver = {
            let q = q.clone();
            thread::spawn(move || [q.recv().unwrap(), q.recv().unwrap()])
        };
        let mine = [q.recv().unwrap(), q.recv().unwrap()];
        sender.join().unwrap();
        let theirs = receiver.join().unwrap();
        assert!(mine[0] < mine[1] && theirs[0] < theirs[1], "FIFO");
        let mut all = [mine, theirs].concat();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// The waiter check on the send fast path: two receivers block, two messages are sent without
/// any close. Each send must wake a distinct receiver; a lost wake-up deadlocks the model.
#[test]
fn each_send_wakes_a_parked_receiver() {
    model(|| {
        let q = Queue::unbounded();
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.recv().unwrap())
            })
            .collect();
        q.send(1u32).unwrap();
        q.send(2).unwrap();
        let mut got: Vec<u32> = receivers.into_iter().map(|r| r.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// Close races with a send and with a blocked receiver: the receiver wakes, and the message is
/// received exactly once if (and only if) the send succeeded.
#[test]
fn close_races_with_send_and_a_blocked_receiver() {
    model(|| {
        let q = Queue::unbounded();
        let receiver = {
            let q = q.clone();
            thread::spawn(move || q.iter().collect::<Vec<u32>>())
        };
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(7).is_ok())
        };
        q.close();
        let sent = sender.join().unwrap();
        let received = receiver.join().unwrap();
        assert_eq!(received, if sent { vec![7] } else { vec![] });
        assert_eq!(q.recv(), Err(RecvError));
    });
}

/// Two receivers drain a queue whose first block is full while a sender fills the next one:
/// the block is freed by whichever receiver finishes last (the DESTROY hand-off), never while
/// the other still reads from it. Loom flags any access to a freed cell.
#[test]
fn block_reclaimed_while_a_receiver_is_still_on_it() {
    model(|| {
        let q = Queue::unbounded();
        for i in 0..3u32 {
            q.send(i).unwrap();
        }
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        got.push(q.recv().unwrap());
                    }
                    got
                })
            })
            .collect();
        q.send(3).unwrap();
        let mut all: Vec<u32> = receivers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
    });
}

/// An async receiver registers, is notified by a send, and is dropped without being polled
/// again: the notification must pass to the blocked receiver (no close to rescue it).
#[test]
fn async_receiver_dropped_after_notification_passes_it_on() {
    model(|| {
        let q = Queue::unbounded();
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.recv().unwrap())
        };
        let mut fut = q.recv_async();
        let first = poll_once(&mut fut);
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(1u32).unwrap())
        };
        sender.join().unwrap();
        drop(fut);
        if let Poll::Ready(got) = first {
            // The future won the message before the send: give the blocked receiver one too.
            assert_eq!(got, Ok(1));
            unreachable!("the queue was empty when the future was first polled");
        }
        assert_eq!(blocked.join().unwrap(), 1);
    });
}
