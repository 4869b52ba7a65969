//! Models of the async receive shapes that own their waiter across polls: `RecvBatch`,
//! `RecvStream` and `Receiver` as a `Stream`, and a cancelled `send_async` on a full ring.
//!
//! `loom::future::block_on` parks the model thread until its waker is woken, so a lost
//! wake-up of a pending future deadlocks the model.

use futures_util::StreamExt;
use loom::future::block_on;
use loom::thread;
use segmq::{Queue, TryRecvError};

use crate::{model, poll_until_listening};

/// `recv_batch_async` pending on an empty queue, then two sends: the batch future is woken and
/// completes with at least one message; the rest stay queued; exactly once overall.
///
/// Fails if: `RecvBatch`'s poll returns `Pending` without the waiter joining the count
/// (`join_waiters` skipped: the sends see no waiter and never wake the task, deadlock).
#[test]
fn recv_batch_async_is_woken_by_sends() {
    model(|| {
        let q = Queue::unbounded();
        let receiver = {
            let q = q.clone();
            thread::spawn(move || {
                let mut buf = Vec::new();
                let n = block_on(q.recv_batch_async(&mut buf, 2)).unwrap();
                assert_eq!(n, buf.len());
                buf
            })
        };
        q.send(1u32).unwrap();
        q.send(2).unwrap();
        let mut got = receiver.join().unwrap();
        assert!(
            !got.is_empty() && got.windows(2).all(|w| w[0] < w[1]),
            "FIFO"
        );
        got.extend(std::iter::from_fn(|| q.try_recv().ok()));
        assert_eq!(got, [1, 2]);
    });
}

/// A `RecvStream` pending on an empty queue yields a send, then ends (`None`) when the queue
/// is closed: the close must wake the pending stream.
///
/// Fails if: `close` does not notify the receive event (`recv_ops.notify_all` removed): the
/// stream's second poll parks for ever.
#[test]
fn recv_stream_yields_then_ends_at_close() {
    model(|| {
        let q = Queue::unbounded();
        let consumer = {
            let q = q.clone();
            thread::spawn(move || block_on(q.stream().collect::<Vec<u32>>()))
        };
        q.send(5u32).unwrap();
        q.close();
        assert_eq!(consumer.join().unwrap(), [5]);
    });
}

/// `Receiver` as a `Stream`: pending, then the last `Sender` sends and is dropped; the stream
/// yields the message and ends.
///
/// Fails if: dropping the last `Sender` does not close the queue (`release_handle` result
/// ignored in `Sender::drop`): the stream never ends.
#[test]
fn receiver_stream_ends_when_the_last_sender_goes() {
    model(|| {
        let (tx, rx) = segmq::unbounded::<u32>();
        let consumer = thread::spawn(move || block_on(rx.collect::<Vec<u32>>()));
        let tx2 = tx.clone();
        let producer = thread::spawn(move || tx2.send(1).unwrap());
        tx.send(2).unwrap();
        drop(tx);
        producer.join().unwrap();
        let mut got = consumer.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A `send_async` pending on a full ring (capacity 1) is dropped while a receive makes room,
/// with a second, blocking sender also parked: if the receive's notification went to the
/// future, dropping it must pass the notification on to the blocking sender; the cancelled
/// message is never queued.
///
/// Fails if: `Waiter::finish` forgets the listener (`std::mem::forget`) instead of dropping it
/// (a notification the future received dies with it: the blocking sender parks for ever).
#[test]
fn cancelled_send_async_on_a_full_ring_passes_room_on() {
    model(|| {
        let q = Queue::bounded(1);
        q.send(0u32).unwrap();
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.send(2).unwrap())
        };
        let mut fut = q.send_async(1);
        assert!(
            poll_until_listening(&mut fut).is_pending(),
            "the ring is full"
        );
        let receiver = {
            let q = q.clone();
            thread::spawn(move || q.recv().unwrap())
        };
        assert_eq!(receiver.join().unwrap(), 0);
        drop(fut);
        blocked.join().unwrap();
        assert_eq!(
            q.try_recv(),
            Ok(2),
            "the cancelled message was never queued"
        );
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}
