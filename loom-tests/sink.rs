//! Models of `SendSink`'s backpressure: a sink waiting for room on a full ring is woken by a
//! receive, and every message arrives once, in order.

use futures_util::SinkExt;
use loom::future::block_on;
use loom::thread;

use crate::model;

/// A sink sends 1 and 2 into a ring of 1 slot and closes, while the main thread receives. The
/// second send waits for room in the sink (`poll_ready`/`poll_flush` pending); the receive
/// must wake it (a lost wake-up deadlocks the model); `close` releases the sink's sender, so
/// the receiver's loop ends.
///
/// Fails if: `SendSink::poll_pending` returns `Pending` when it sees the queue full before
/// calling `poll_send` (`if tx.is_full() { return Poll::Pending; }`): nothing registers the
/// task's waker, and when the receive made room after that check, nobody wakes it.
#[test]
fn sink_waiting_for_room_is_woken_by_a_receive() {
    model(|| {
        let (tx, rx) = segmq::bounded::<u32>(1);
        let mut sink = tx.into_sink();
        let producer = thread::spawn(move || {
            block_on(async {
                sink.send(1).await.unwrap();
                sink.send(2).await.unwrap();
                sink.close().await.unwrap();
            })
        });
        let got: Vec<u32> = rx.iter().collect();
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
    });
}
