//! Owned futures (`into_recv_async`, `into_send_async`) and `SendSink` (issue 18):
//! backpressure, cancel safety, close, exactly once.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_sink::Sink;
use futures_util::{FutureExt, SinkExt};
use segmq::{RecvError, SendError};

struct CountWakes(AtomicUsize);
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountWakes>, Waker) {
    let count = Arc::new(CountWakes(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

fn assert_static<T: 'static>(_: &T) {}

/// The owned futures borrow nothing, count as handles while they live, and deliver exactly
/// once.
#[test]
fn owned_futures_are_static_and_count_as_handles() {
    let (tx, rx) = segmq::unbounded::<u32>();
    let recv = rx.clone().into_recv_async();
    let send = tx.clone().into_send_async(1);
    assert_static(&recv);
    assert_static(&send);
    assert_eq!((tx.sender_count(), tx.receiver_count()), (2, 2));
    drop(rx);
    assert_eq!(futures_executor::block_on(send), Ok(()));
    assert_eq!(
        tx.sender_count(),
        1,
        "the completed future dropped its sender"
    );
    assert_eq!(futures_executor::block_on(recv), Ok(1));
    assert_eq!(tx.receiver_count(), 0);
    assert!(tx.is_closed(), "the future held the last receiver");
    assert_eq!(
        futures_executor::block_on(tx.clone().into_send_async(2)),
        Err(SendError(2))
    );
}

/// A pending owned receive that is dropped takes nothing: the message sent afterwards stays
/// for the next receiver.
#[test]
fn dropped_owned_recv_loses_nothing() {
    let (tx, rx) = segmq::unbounded::<u32>();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut recv = rx.clone().into_recv_async();
    assert_eq!(Pin::new(&mut recv).poll(&mut cx), Poll::Pending);
    drop(recv);
    tx.send(5).unwrap();
    assert_eq!(rx.try_recv(), Ok(5));
    drop(tx);
    assert_eq!(
        futures_executor::block_on(rx.into_recv_async()),
        Err(RecvError)
    );
}

/// A pending owned send on a full queue, dropped, drops its message and leaves the queue as
/// it was.
#[test]
fn dropped_owned_send_on_a_full_queue() {
    let (tx, rx) = segmq::bounded::<u32>(1);
    tx.send(1).unwrap();
    let mut send = tx.clone().into_send_async(2);
    assert!(send.now_or_never_ref().is_none());
    drop(send);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]);
}

trait NowOrNeverRef {
    fn now_or_never_ref(&mut self) -> Option<Result<(), SendError<u32>>>;
}
impl NowOrNeverRef for segmq::OwnedSend<u32> {
    fn now_or_never_ref(&mut self) -> Option<Result<(), SendError<u32>>> {
        let (_, waker) = counting_waker();
        match Pin::new(self).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }
}

/// Backpressure: on a full bounded queue the sink holds one message and `poll_ready` stays
/// pending until a receive makes room; the receive wakes the task.
#[test]
fn sink_waits_for_room_on_a_full_queue() {
    let (tx, rx) = segmq::bounded::<u32>(1);
    let mut sink = tx.into_sink();
    let (wakes, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut s = Pin::new(&mut sink);
    assert!(matches!(
        s.as_mut().poll_ready(&mut cx),
        Poll::Ready(Ok(()))
    ));
    s.as_mut().start_send(1).unwrap(); // into the queue
    assert!(matches!(
        s.as_mut().poll_ready(&mut cx),
        Poll::Ready(Ok(()))
    ));
    s.as_mut().start_send(2).unwrap(); // full: held
                                       // The first pending poll yields (it wakes its own task: `src/wait.rs`, "Async: yield
                                       // before listening"), the second listens.
    assert!(s.as_mut().poll_ready(&mut cx).is_pending());
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the yield");
    assert!(s.as_mut().poll_flush(&mut cx).is_pending());
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        1,
        "listening: no wake-up yet"
    );
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(
        wakes.0.load(Ordering::SeqCst),
        2,
        "the receive woke the sink"
    );
    assert!(matches!(
        s.as_mut().poll_ready(&mut cx),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(rx.try_recv(), Ok(2));
    assert!(format!("{sink:?}").contains("holds_a_message: false"));
}

/// A cancelled `SinkExt::send` (dropped while waiting for room) keeps its message in the sink;
/// the next flush delivers it: nothing lost, nothing doubled.
#[test]
fn cancelled_sink_send_keeps_the_message() {
    let (tx, rx) = segmq::bounded::<u32>(1);
    tx.send(0).unwrap();
    let mut sink = tx.sink();
    assert!(sink.send(1).now_or_never().is_none(), "queue full: pending");
    assert_eq!(rx.recv(), Ok(0));
    futures_executor::block_on(sink.flush()).unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]);
    drop((tx, sink));
    assert_eq!(rx.recv(), Err(RecvError));
}

/// Closing the sink flushes, then drops its sender: the queue closes if it was the last one;
/// later sends give the message back.
#[test]
fn sink_close_flushes_then_releases_its_sender() {
    let (tx, rx) = segmq::bounded::<u32>(1);
    let mut sink = tx.into_sink();
    let consumer = std::thread::spawn(move || rx.iter().collect::<Vec<_>>());
    futures_executor::block_on(async {
        for i in 0..100 {
            sink.send(i).await.unwrap();
        }
        sink.close().await.unwrap();
    });
    assert!(sink.sender().is_none());
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
    assert_eq!(Pin::new(&mut sink).start_send(7).unwrap_err(), SendError(7));
}

/// On a queue closed while the sink holds a message, `poll_flush` gives the message back.
#[test]
fn sink_returns_the_held_message_when_the_queue_closes() {
    let (tx, rx) = segmq::bounded::<u32>(1);
    let mut sink = tx.sink();
    tx.send(1).unwrap();
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    Pin::new(&mut sink).start_send(2).unwrap();
    assert!(Pin::new(&mut sink).poll_flush(&mut cx).is_pending());
    drop(rx); // the last receiver: closed
    match Pin::new(&mut sink).poll_flush(&mut cx) {
        Poll::Ready(Err(SendError(back))) => assert_eq!(back, 2),
        other => panic!("expected the message back, got {other:?}"),
    }
    assert_eq!(Pin::new(&mut sink).start_send(3).unwrap_err(), SendError(3));
}
