//! Models of `WeakSender::upgrade` racing the last sender's drop, and of `Sender::closed`
//! racing the last receiver's drop.

use loom::future::block_on;
use loom::thread;
use segmq::SendError;

use crate::model;

/// An upgrade races the drop of the only strong sender. Either the upgrade lands first (then
/// that drop is not the last, and the upgraded sender's send succeeds and is received) or it
/// fails (then the queue is closed by the drop); it never hands out a sender of a queue that
/// the last drop is closing. Exactly once: the receiver gets the message iff a send returned
/// `Ok`, and sees "closed" at the end.
///
/// Fails if: `Channel::try_acquire_handle` checks then increments
/// (`if count.load(Relaxed) == 0 { return false } count.fetch_add(1, Relaxed); true`) instead
/// of its CAS loop: the upgrade reads 1, the drop takes the count to 0 and closes, the
/// upgrade revives it, and its send fails on a queue it was told is open.
#[test]
fn upgrade_racing_the_last_sender_drop_never_revives_the_queue() {
    model(|| {
        let (tx, rx) = segmq::unbounded();
        let weak = tx.downgrade();
        let dropper = thread::spawn(move || drop(tx));
        let sent = match weak.upgrade() {
            Some(tx2) => {
                let sent = tx2.send(7u32);
                assert_eq!(sent, Ok(()), "an upgraded sender's queue is open");
                true
            }
            None => false,
        };
        dropper.join().unwrap();
        assert!(weak.upgrade().is_none(), "0 senders is final");
        assert_eq!(weak.sender_count(), 0);
        let got: Vec<u32> = rx.iter().collect();
        assert_eq!(got, if sent { vec![7] } else { vec![] });
        assert!(rx.is_closed());
    });
}

/// Two upgrades race the drop of the only strong sender: every upgraded sender can send, the
/// counts end at 0 strong and 1 weak.
///
/// Fails if: the same check-then-increment as above (a later upgrade revives the count
/// after the drop released it).
#[test]
fn two_upgrades_racing_the_last_drop() {
    crate::model_with_bound(1, || {
        let (tx, rx) = segmq::unbounded();
        let weak = tx.downgrade();
        let weak2 = weak.clone();
        let dropper = thread::spawn(move || drop(tx));
        let other = thread::spawn(move || {
            let sent = weak2.upgrade().map(|tx| tx.send(2u32));
            assert!(
                !matches!(sent, Some(Err(SendError(_)))),
                "upgraded, then refused"
            );
            sent.is_some()
        });
        let sent = weak.upgrade().map(|tx| tx.send(1u32));
        assert!(
            !matches!(sent, Some(Err(SendError(_)))),
            "upgraded, then refused"
        );
        dropper.join().unwrap();
        let other_sent = other.join().unwrap();
        assert_eq!((weak.sender_count(), weak.weak_sender_count()), (0, 1));
        let mut got: Vec<u32> = rx.iter().collect();
        got.sort_unstable();
        let mut want = Vec::new();
        if sent.is_some() {
            want.push(1);
        }
        if other_sent {
            want.push(2);
        }
        assert_eq!(got, want);
    });
}

/// `Sender::closed()` waits while the last receiver is dropped on another thread: it
/// completes (a lost wake-up deadlocks the model), and the queue is closed by then.
///
/// Fails if: `Closed::poll` skips the check after `listen` (it polls the new listener at
/// once): the close can land between the first check and the `listen`, its `notify_all`
/// finds no listener, and the future waits forever.
#[test]
fn closed_completes_when_the_last_receiver_drops() {
    model(|| {
        let (tx, rx) = segmq::unbounded::<u32>();
        let rx2 = rx.clone();
        let dropper = thread::spawn(move || {
            drop(rx);
            drop(rx2);
        });
        block_on(tx.closed());
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(SendError(1)));
        dropper.join().unwrap();
    });
}

/// `closed()` waits while a counted receiver also waits on the same queue: a send wakes the
/// receiver (the close-waiter must not take its notification), then the close wakes both.
///
/// Fails if: `Closed` listens on `recv_ops` instead of its own `close_ops` (the send's one
/// notification can go to the close-waiter, which listens again; the receiver never wakes).
#[test]
fn closed_does_not_take_a_receivers_wake_up() {
    model(|| {
        let (tx, rx) = segmq::unbounded::<u32>();
        let receiver = thread::spawn(move || {
            let first = rx.recv();
            drop(rx);
            first
        });
        let waiter = {
            let tx = tx.clone();
            thread::spawn(move || block_on(tx.closed()))
        };
        tx.send(5).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(5));
        waiter.join().unwrap();
        assert!(tx.is_closed());
    });
}
