//! Models of the owned futures (`into_send_async`, `into_recv_async`) on another thread: a
//! pending owned send on a full ring and a pending owned receive on an empty queue are woken
//! by their counterpart; exactly once.

use loom::future::block_on;
use loom::thread;

use crate::model;

/// An owned send waits on a full ring of 1 on another thread; the main thread receives twice.
/// The receive must wake it (a lost wake-up deadlocks the model), and both messages arrive
/// once, in order.
///
/// Fails if: `OwnedSend::poll` returns `Pending` when it sees the queue full before calling
/// `poll_send` (`if self.tx.is_full() { return Poll::Pending; }`): no waker is registered, and
/// a receive that made room after that check wakes nobody.
#[test]
fn owned_send_on_a_full_ring_is_woken_by_a_receive() {
    model(|| {
        let (tx, rx) = segmq::bounded::<u32>(1);
        tx.send(1).unwrap();
        let fut = tx.into_send_async(2); // owns the only sender
        let sender = thread::spawn(move || block_on(fut));
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.recv(), Ok(2));
        sender.join().unwrap().unwrap();
        assert!(rx.recv().is_err(), "the future's sender is gone: closed");
    });
}

/// An owned receive waits on another thread while the main thread sends and then drops its
/// sender: the future gets the message (not "closed"), and nothing is left.
///
/// Fails if: `OwnedRecv::poll` returns `Pending` when it sees the queue empty before calling
/// `poll_recv` (`if self.rx.is_empty() { return Poll::Pending; }`): the send finds no waiter
/// to wake.
#[test]
fn owned_recv_is_woken_by_a_send() {
    model(|| {
        let (tx, rx) = segmq::unbounded::<u32>();
        let probe = rx.clone();
        let fut = rx.into_recv_async();
        let receiver = thread::spawn(move || block_on(fut));
        tx.send(3).unwrap();
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Ok(3));
        assert!(probe.try_recv().is_err());
    });
}
