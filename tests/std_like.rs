//! The std-like conveniences of issue 18: `is_full`, `drain`, `IntoIterator` for receivers,
//! fused iterators and unwind safety of the handles.

use std::cell::Cell;
use std::iter::FusedIterator;
use std::panic::{catch_unwind, RefUnwindSafe, UnwindSafe};

use segmq::{Queue, Receiver, Sender};

fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}
fn assert_fused<I: FusedIterator>(_: &I) {}

/// Compiles only if the handles are unwind-safe whatever `T` is (`Cell` is not
/// `RefUnwindSafe`; the auto traits failed on the queue's `UnsafeCell` slots before).
#[test]
fn handles_are_unwind_safe() {
    assert_unwind_safe::<Queue<Cell<u8>>>();
    assert_unwind_safe::<Sender<Cell<u8>>>();
    assert_unwind_safe::<Receiver<Cell<u8>>>();
    let (tx, rx) = segmq::unbounded();
    tx.send(1).unwrap();
    // No `AssertUnwindSafe` needed around a borrowed receiver.
    assert_eq!(catch_unwind(|| rx.recv()).unwrap(), Ok(1));
    let q = Queue::<u8>::unbounded();
    assert!(catch_unwind(|| q.try_recv()).unwrap().is_err());
}

#[test]
fn is_full_tracks_a_bounded_queue() {
    let (tx, rx) = segmq::bounded(2);
    assert!(!tx.is_full() && !rx.is_full());
    tx.send(1).unwrap();
    assert!(!tx.is_full());
    tx.send(2).unwrap();
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(rx.recv(), Ok(1));
    assert!(!tx.is_full());
    let (tx, _rx) = segmq::unbounded();
    tx.send_batch(0..100).unwrap();
    assert!(!tx.is_full());
}

/// `drain` takes at most what was there when it began, leaves later messages queued and
/// stops for good once it returned `None`.
#[test]
fn drain_stops_at_the_snapshot_and_loses_nothing() {
    let (tx, rx) = segmq::unbounded();
    tx.send_batch(0..5).unwrap();
    let mut drain = rx.drain();
    assert_fused(&drain);
    assert_eq!(drain.size_hint(), (0, Some(5)));
    assert_eq!(drain.next(), Some(0));
    tx.send_batch(5..8).unwrap();
    assert_eq!(drain.by_ref().collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(drain.next(), None);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [5, 6, 7]);
}

/// A drain that another receiver raced ends at the first empty look, and stays ended.
#[test]
fn drain_ends_early_when_others_took_messages() {
    let q = Queue::unbounded();
    q.send_batch([1, 2]).unwrap();
    let mut drain = q.drain();
    assert_eq!(q.recv(), Ok(1));
    assert_eq!(q.recv(), Ok(2));
    assert_eq!(drain.next(), None);
    q.send(3).unwrap();
    assert_eq!(drain.next(), None, "fused");
    assert_eq!(q.try_recv(), Ok(3));
}

/// `TryIter` is fused: a message sent after its first `None` is left for the next receive.
#[test]
fn try_iter_is_fused() {
    let (tx, rx) = segmq::unbounded();
    tx.send(1).unwrap();
    let mut it = rx.try_iter();
    assert_fused(&it);
    assert_eq!(it.next(), Some(1));
    assert_eq!(it.next(), None);
    tx.send(2).unwrap();
    assert_eq!(it.next(), None);
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn receivers_are_into_iterator_both_ways() {
    let (tx, rx) = segmq::unbounded();
    tx.send_batch(1..=4).unwrap();
    drop(tx);
    let mut seen = Vec::new();
    for n in &rx {
        seen.push(n);
        if n == 2 {
            break;
        }
    }
    assert_fused(&rx.iter());
    let owned = rx.into_iter();
    assert_fused(&owned);
    seen.extend(owned);
    assert_eq!(seen, [1, 2, 3, 4]);
}

/// The owning iterator keeps the queue open for senders (it holds the receiver) and ends on
/// close.
#[test]
fn owned_iterator_holds_the_receiver() {
    let (tx, rx) = segmq::unbounded();
    let mut it = rx.into_iter();
    assert_eq!(tx.receiver_count(), 1);
    tx.send(7).unwrap();
    assert_eq!(it.next(), Some(7));
    drop(tx);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

fn assert_send<T: Send>() {}
fn assert_send_sync<T: Send + Sync>() {}

/// The new handle, future and sink types are `Send` (and the handles `Sync`) for a `Send`
/// message, so they can be moved into threads and spawned tasks.
#[test]
fn new_types_are_send() {
    assert_send_sync::<segmq::WeakSender<String>>();
    assert_send::<segmq::OwnedRecv<String>>();
    assert_send::<segmq::OwnedSend<String>>();
    assert_send::<segmq::SendSink<String>>();
    assert_send::<segmq::Closed<'static, String>>();
    assert_send::<segmq::Drain<'static, String>>();
    assert_send::<segmq::IntoIter<String>>();
}
