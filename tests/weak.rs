//! `WeakSender` (downgrade/upgrade, counts) and `Sender::closed` (issue 18).

use std::future::Future;
use std::task::Poll;

use futures_util::FutureExt;
use segmq::{RecvError, SendError};

/// A weak sender does not keep the queue open: the last strong drop closes it, receivers
/// drain what was sent and then see "closed", and upgrading fails for good.
#[test]
fn weak_sender_does_not_keep_the_queue_open() {
    let (tx, rx) = segmq::unbounded();
    let weak = tx.downgrade();
    tx.send(1).unwrap();
    drop(tx);
    assert!(weak.is_closed());
    assert!(weak.upgrade().is_none());
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(rx.recv(), Err(RecvError));
    assert!(weak.upgrade().is_none(), "still none after the drain");
}

#[test]
fn counts_follow_downgrade_upgrade_and_drops() {
    let (tx, rx) = segmq::bounded::<u8>(4);
    assert_eq!((tx.sender_count(), tx.weak_sender_count()), (1, 0));
    let w1 = tx.downgrade();
    let w2 = w1.clone();
    assert_eq!((rx.sender_count(), rx.weak_sender_count()), (1, 2));
    let tx2 = w2.upgrade().unwrap();
    assert!(tx2.same_channel(&tx) && w1.same_channel(&tx2));
    assert_eq!((w1.sender_count(), w1.weak_sender_count()), (2, 2));
    drop(w2);
    assert_eq!(tx.weak_sender_count(), 1);
    drop(tx);
    assert!(!tx2.is_closed(), "an upgraded sender keeps the queue open");
    drop(tx2);
    assert!(rx.is_closed());
    assert_eq!(w1.sender_count(), 0);
    assert!(format!("{w1:?}").contains("closed: true"));
}

/// A queue closed by hand while senders live still upgrades; the sender's sends fail.
#[test]
fn upgrade_of_a_queue_closed_by_hand() {
    let (tx, _rx) = segmq::unbounded();
    let weak = tx.downgrade();
    tx.close();
    let tx2 = weak.upgrade().expect("a strong sender is alive");
    assert_eq!(tx2.send(3), Err(SendError(3)));
}

/// `closed()` stays pending while a receiver lives, then completes on the last receiver's
/// drop, on an explicit close, and at once on an already-closed queue.
#[test]
fn closed_completes_on_last_receiver_drop_and_on_close() {
    let (tx, rx) = segmq::unbounded::<u8>();
    let rx2 = rx.clone();
    let mut closed = Box::pin(tx.closed());
    assert_eq!(closed.as_mut().now_or_never(), None);
    drop(rx);
    assert_eq!(closed.as_mut().now_or_never(), None, "one receiver is left");
    drop(rx2);
    assert_eq!(closed.as_mut().now_or_never(), Some(()));

    let (tx, _rx) = segmq::bounded::<u8>(1);
    let waiter = {
        let tx = tx.clone();
        std::thread::spawn(move || futures_executor::block_on(tx.closed()))
    };
    tx.close();
    waiter.join().unwrap();
    assert_eq!(futures_executor::block_on(tx.closed()), ());
}

/// A pending `closed()` future is woken by the close (not polled by luck): the waker it
/// registered is called.
#[test]
fn closed_wakes_its_task() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Count(AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = std::task::Waker::from(count.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let (tx, rx) = segmq::unbounded::<u8>();
    let mut closed = Box::pin(tx.closed());
    assert_eq!(closed.as_mut().poll(&mut cx), Poll::Pending);
    tx.send(1).unwrap(); // a send is not a close: no wake-up
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    drop(rx);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(closed.as_mut().poll(&mut cx), Poll::Ready(()));
}
