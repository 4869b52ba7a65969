//! The answers of a remote queue's workers (ack, NAK, term), sent by one task per queue.
//!
//! # Design
//!
//! A worker thread that has decided a delivery's fate does not send the answer itself: that
//! would be a hand-off to the client's runtime and a wait for it, per message (a cross-thread
//! wake-up and a park, the main cost of consume + ack). It pushes the delivery and its answer
//! into an unbounded segmq queue instead and goes on with the next message. One task on the
//! client's runtime takes the answers in order and hands each to the client (a buffered
//! publish on the delivery's reply subject, which is what an ack is).
//!
//! # Invariants
//!
//! 1. Every answer pushed is sent once, or logged as not sent (the server then redelivers the
//!    message after `ack_wait`: at least once). A worker's answers keep its order.
//! 2. When the last worker has left (every [`AnswerSender`] dropped), the task sends what is
//!    left, flushes the connection (bounded by the request timeout) and only then opens the
//!    [`Flushed`] latch; the workers wait on that latch before they leave the live count, so
//!    `stop` returns only after every answer of this process reached the server (or the
//!    flush timed out: at least once).
//! 3. The latch also opens if the task ends any other way (a panic, its runtime shutting
//!    down), so no worker waits for ever.

use std::sync::Arc;

use async_nats::jetstream::{self, AckKind};

use super::link::{Conn, REQUEST_TIMEOUT};
use crate::sync::{Condvar, Mutex};
use crate::{unbounded, Receiver, Sender};

/// One answer to send.
pub(crate) struct Answer {
    pub(crate) delivery: jetstream::Message,
    pub(crate) kind: AckKind,
    /// What the answer means, for the log line if it cannot be sent.
    pub(crate) what: &'static str,
}

/// A worker's handle on the answer task.
pub(crate) struct AnswerSender {
    tx: Sender<Answer>,
    flushed: Arc<Flushed>,
}

impl AnswerSender {
    /// Queues an answer; never waits. If the task is gone (its runtime shut down), the answer
    /// is dropped with a log line: the server redelivers the message after `ack_wait`.
    pub(crate) fn send(
        &self,
        queue: &str,
        delivery: jetstream::Message,
        kind: AckKind,
        what: &'static str,
    ) {
        if self
            .tx
            .send(Answer {
                delivery,
                kind,
                what,
            })
            .is_err()
        {
            tracing::warn!(
                queue,
                "mq: {what} not sent: the answer task is gone (the server will redeliver)"
            );
        }
    }

    /// Leaves, then waits until the task has sent and flushed every answer of every worker
    /// (invariant 2).
    pub(crate) fn finish(self) {
        let flushed = self.flushed.clone();
        drop(self);
        flushed.wait();
    }

    /// A handle for another worker.
    pub(crate) fn clone_for_worker(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            flushed: self.flushed.clone(),
        }
    }
}

/// Opened once the task has flushed the last answers, or ended (invariants 2, 3).
#[derive(Default)]
struct Flushed {
    done: Mutex<bool>,
    opened: Condvar,
}

impl Flushed {
    fn open(&self) {
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.opened.notify_all();
    }

    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.opened.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Opens the latch when the task ends, however it ends (invariant 3).
struct OpenOnDrop(Arc<Flushed>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Starts the answer task of queue `queue` on the connection's runtime; returns the first
/// worker's handle (clone it for the others).
pub(crate) fn start(conn: &Arc<Conn>, queue: &'static str) -> AnswerSender {
    let (tx, rx) = unbounded();
    let flushed = Arc::new(Flushed::default());
    let open = OpenOnDrop(flushed.clone());
    let client = conn.client.clone();
    conn.handle.spawn(async move {
        let _open = open;
        send_all(rx, queue).await;
        match tokio::time::timeout(REQUEST_TIMEOUT, client.flush()).await {
            Ok(Ok(())) => {}
            other => tracing::warn!(queue, "mq: the answers were not flushed: {other:?}"),
        }
    });
    AnswerSender { tx, flushed }
}

/// Sends every answer until the last worker has left and the queue is drained (invariant 1).
async fn send_all(rx: Receiver<Answer>, queue: &'static str) {
    while let Ok(Answer {
        delivery,
        kind,
        what,
    }) = rx.recv_async().await
    {
        // Bounded: with the connection down for long, the client's buffer fills and a send
        // would wait for the reconnect.
        match tokio::time::timeout(REQUEST_TIMEOUT, delivery.ack_with(kind)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(
                    queue,
                    "mq: {what} not sent (the server will redeliver): {e}"
                )
            }
            Err(_) => tracing::warn!(
                queue,
                "mq: {what} not sent in {REQUEST_TIMEOUT:?} (the server will redeliver)"
            ),
        }
    }
}
