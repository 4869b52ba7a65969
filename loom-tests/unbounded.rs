//! Models of `Queue::unbounded()` (3-slot blocks under loom).

use std::task::Poll;

use loom::thread;
use segmq::{Queue, RecvError, TryRecvError};

use crate::{model, poll_until_listening};

/// Two senders push 2 messages each (4 > 3 slots: one block boundary); the main thread
/// receives all of them with blocking `recv`. Per-producer FIFO and exactly-once.
///
/// Fails if: a sender publishes with a `Relaxed` store of `Slot::written` (loom reports the
/// receiver's read of the message cell racing the sender's write).
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
/// the block is retired only once both are done with it (at once, or from the deferred list),
/// never while the other still reads from it, and never leaked. Loom flags any access to a
/// freed cell and any block never freed.
///
/// Fails if: `Unbounded::drop` leaves the deferred list alone (loom reports the leaked block).
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
///
/// Fails if: `Waiter::finish` discards a wake-up its listener holds without passing it on
/// (`wake(event, flavor, side, 1)` removed): the send took the future out of the count when it
/// woke it, so the blocked receiver, still counted, parks for ever with the message queued.
#[test]
fn async_receiver_dropped_after_notification_passes_it_on() {
    model(|| {
        let q = Queue::unbounded();
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.recv().unwrap())
        };
        let mut fut = q.recv_async();
        let first = poll_until_listening(&mut fut);
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

/// The `NOT_LAST` hint: 7 messages span three 3-slot blocks, so the receiver that takes the
/// last slot of the first block moves the head into a block whose successor is already linked
/// and marks the head "not last"; the pops in that block then skip the `tail` load. Two
/// receivers race through it while a sender adds an eighth message. Exactly once, FIFO per
/// receiver, and nobody claims an unwritten slot.
///
/// Fails if: `advance_head_block` sets `NOT_LAST` without checking that the successor has a
/// successor (`if true` instead of the `next.next` test): a pop in the last block skips the
/// `tail` check, claims a slot no sender pushed and waits for it for ever.
#[test]
fn head_enters_a_block_whose_successor_is_linked() {
    model(|| {
        let q = Queue::unbounded();
        for i in 0..7u32 {
            q.send(i).unwrap();
        }
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(v) = q.try_recv() {
                    got.push(v);
                    if got.len() == 4 {
                        break;
                    }
                }
                got
            })
        };
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(7).unwrap())
        };
        let mut mine = Vec::new();
        while mine.len() < 4 {
            match q.try_recv() {
                Ok(v) => mine.push(v),
                Err(_) => break,
            }
        }
        sender.join().unwrap();
        let theirs = receiver.join().unwrap();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "FIFO");
        assert!(theirs.windows(2).all(|w| w[0] < w[1]), "FIFO");
        let mut all = [mine, theirs].concat();
        all.extend(std::iter::from_fn(|| q.try_recv().ok()));
        all.sort_unstable();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
    });
}

/// Counts its drops in a shared counter.
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Dropping the last handle of a queue that holds two blocks, whose head block is partly read:
/// a receiver takes one message while a sender adds one more, then every handle is dropped.
/// Each message is dropped exactly once (received or by the queue's `Drop`), and every block
/// is freed (blocks carry a loom `Track` under loom, so a leaked block fails the model).
///
/// Fails if: `Unbounded::drop` frees only the head block (the walk's `Block::free` of passed
/// blocks removed: loom reports the leaked blocks' tracks).
#[test]
fn drop_with_two_blocks_and_a_partly_read_head_block() {
    model(|| {
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let q = Queue::unbounded();
        for _ in 0..4 {
            q.send(Counted(drops.clone())).unwrap();
        }
        let receiver = {
            let q = q.clone();
            thread::spawn(move || drop(q.recv().unwrap()))
        };
        let sender = {
            let q = q.clone();
            let c = Counted(drops.clone());
            thread::spawn(move || q.send(c).map_err(|_| ()).unwrap())
        };
        receiver.join().unwrap();
        sender.join().unwrap();
        drop(q);
        assert_eq!(
            drops.load(std::sync::atomic::Ordering::Relaxed),
            5,
            "each dropped once"
        );
    });
}

/// Spare blocks: 4 messages fill the first 3-slot block and start the second; a sender adds
/// 3 more (its last-slot push needs a third block) while the main thread receives all 7. The
/// first block, retired by the receiver as it reads slot 2, may be taken back by the sender as
/// the third block (the race between `Spares::retire` and `Spares::take`), so message 6 can be
/// written into a cell that held message 0. Exactly once and FIFO; loom checks that the old
/// life's accesses happen before the reset and the new write.
///
/// Fails if: `Block::reset` leaves `written` set (the receiver takes slot 0 of the reused block
/// before message 6 is written: loom reports the read racing the sender's write, or the value
/// is the old 0); or `Spares::retire`'s CAS and `take`'s swap are `Relaxed` (loom reports the
/// sender's write of message 6 racing the receiver's earlier read of message 0 in that cell).
#[test]
fn a_retired_block_is_reused_for_a_later_boundary() {
    model(|| {
        let q = Queue::unbounded();
        for i in 0..4u32 {
            q.send(i).unwrap();
        }
        let sender = {
            let q = q.clone();
            thread::spawn(move || {
                for i in 4..7u32 {
                    q.send(i).unwrap();
                }
            })
        };
        let got: Vec<u32> = (0..7).map(|_| q.recv().unwrap()).collect();
        sender.join().unwrap();
        assert_eq!(got, (0..7).collect::<Vec<_>>(), "exactly once, FIFO");
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// A slow receiver on a passed block: a second thread takes one message of a full first block
/// while the main thread takes the other two, finishing the block, and then sends 4 more,
/// which need a third block. If the second thread has claimed its slot but not read it yet, the
/// first block must wait on the deferred list (it is neither reused nor freed under that
/// receiver's feet), and whoever finishes a later block retires it. Exactly once; no block
/// leaks (loom tracks every block).
///
/// Fails if: `retire_or_defer` retires a block without checking its `read` flags (`if true`): the
/// block is taken back as the third block while the slow receiver reads it, and loom reports
/// the send of message 6 racing that receiver's read of message 0 in the same cell.
#[test]
fn a_slow_receiver_defers_the_reuse_of_its_block() {
    model(|| {
        let q = Queue::unbounded();
        for i in 0..3u32 {
            q.send(i).unwrap();
        }
        let slow = {
            let q = q.clone();
            thread::spawn(move || q.try_recv().ok())
        };
        let mut got = vec![q.recv().unwrap(), q.recv().unwrap()];
        for i in 3..7u32 {
            q.send(i).unwrap();
        }
        got.extend(slow.join().unwrap());
        got.extend(std::iter::from_fn(|| q.try_recv().ok()));
        got.sort_unstable();
        assert_eq!(got, (0..7).collect::<Vec<_>>(), "exactly once");
    });
}
