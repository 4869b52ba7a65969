//! Models of the `Sender`/`Receiver` handles: disconnection by dropping the last handle.

use std::sync::atomic::{AtomicUsize, Ordering};

use loom::thread;
use segmq::{RecvError, SendError};

use crate::model;

/// A message that counts its drops (a plain std counter: it only observes, loom need not
/// explore it).
struct Counted(std::sync::Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The last `Sender` is dropped while a receiver blocks: the receiver gets the message that
/// was sent, then wakes with "closed" (a lost wake-up deadlocks the model).
#[test]
fn last_sender_dropped_while_a_receiver_blocks() {
    model(|| {
        let (tx, rx) = segmq::unbounded();
        let rx2 = rx.clone();
        let sender = thread::spawn(move || {
            tx.send(1u32).unwrap();
            drop(tx);
        });
        let other = thread::spawn(move || rx2.recv());
        let mine = rx.recv();
        sender.join().unwrap();
        let theirs = other.join().unwrap();
        let mut got = [mine, theirs];
        got.sort_by_key(|r| r.is_err());
        assert_eq!(got, [Ok(1), Err(RecvError)]);
    });
}

/// The last `Receiver` is dropped while a sender is mid-send (unbounded: between its claim and
/// its write, among other interleavings): the message is dropped exactly once, either by the
/// receiver's discard (send returned `Ok`) or by the sender (it got it back), and never stays
/// in the queue.
#[test]
fn last_receiver_dropped_while_a_sender_is_mid_send() {
    model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = segmq::unbounded();
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                let accepted = tx.send(Counted(drops)).is_ok();
                (tx, accepted)
            })
        };
        drop(rx);
        let (tx, _accepted) = sender.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once, now");
        assert!(tx.is_empty());
        drop(tx);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// A sender blocked on a full bounded channel when the last `Receiver` goes: it wakes and gets
/// its message back; the queued message is dropped with the receiver.
#[test]
fn blocked_sender_released_by_the_last_receiver() {
    model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = segmq::bounded(1);
        tx.send(Counted(drops.clone())).unwrap();
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || match tx.send(Counted(drops)) {
                Ok(()) => false,
                Err(SendError(back)) => {
                    drop(back);
                    true
                }
            })
        };
        drop(rx);
        let refused = sender.join().unwrap();
        assert!(refused, "the queue was full until it closed");
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

/// A message that counts its drops and may panic in `Drop`.
struct PanicsOnDrop {
    drops: std::sync::Arc<AtomicUsize>,
    panics: bool,
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("message Drop panics");
        }
    }
}

/// The last `Receiver` is dropped while a sender is mid-send, and one queued message panics in
/// its `Drop`: the discard still drops every other message at once (across a block boundary:
/// blocks hold 3 slots under loom), frees every block (loom's leak check) and the sender's
/// message is dropped exactly once by whichever side owns it.
///
/// Fails if the discard loop simply unwinds (the pre-fix `while let Ok(m) = pop() { drop(m) }`
/// in `Channel::discard_all`): the messages after the panicking one stay queued while `tx` lives.
#[test]
fn last_receiver_discard_survives_a_panicking_drop() {
    model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = segmq::unbounded();
        for i in 0..4 {
            let m = PanicsOnDrop {
                drops: drops.clone(),
                panics: i == 1,
            };
            assert!(tx.send(m).is_ok());
        }
        let sender = {
            let drops = drops.clone();
            thread::spawn(move || {
                let m = PanicsOnDrop {
                    drops,
                    panics: false,
                };
                let accepted = tx.send(m).is_ok();
                (tx, accepted)
            })
        };
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(rx)));
        assert!(unwound.is_err());
        let (tx, _accepted) = sender.join().unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            5,
            "every message dropped, now"
        );
        assert!(tx.is_empty());
        drop(tx);
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    });
}
