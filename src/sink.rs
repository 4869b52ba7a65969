//! [`SendSink`]: a [`Sink`](futures_sink::Sink) of messages into a queue, made from a
//! [`Sender`].
//!
//! # Design
//!
//! A `Sink` takes a message in `start_send` before it knows there is room, so it must be able
//! to hold one. `start_send` tries the send at once; only if a bounded queue is full does the
//! sink hold the message (`pending`), and `poll_ready`/`poll_flush` then wait for room with
//! the same poll step as [`SendFut`](crate::SendFut) (`Channel::poll_send`): backpressure, with
//! at most one message held beyond the queue's capacity. `Sender` itself is not the sink: it
//! would then carry that `Option<T>` and a waiter in every handle, and a dropped `Sender` would
//! drop a message that its owner may think was sent.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_sink::Sink;

use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::handles::Sender;
use crate::wait::Waiter;

impl<T> Sender<T> {
    /// A [`Sink`] that owns this sender (`'static` when `T` is): `SinkExt::send`, `send_all`
    /// and `Stream::forward` work on it. See [`SendSink`] for backpressure and cancel safety.
    ///
    /// ```
    /// use futures_util::{stream, SinkExt, StreamExt};
    /// let (tx, rx) = segmq::bounded(2);
    /// let mut sink = tx.into_sink();
    /// let producer = std::thread::spawn(move || {
    ///     futures_executor::block_on(async {
    ///         sink.send_all(&mut stream::iter(1..=10).map(Ok)).await?;
    ///         sink.close().await // drops the sink's sender: the queue closes
    ///     })
    /// });
    /// assert_eq!(rx.iter().sum::<i32>(), 55);
    /// producer.join().unwrap().unwrap();
    /// ```
    pub fn into_sink(self) -> SendSink<T> {
        SendSink {
            tx: Some(self),
            pending: None,
            waiter: Waiter::new(),
        }
    }

    /// A [`SendSink`] over another sender of this channel (`self.clone().into_sink()`).
    ///
    /// ```
    /// use futures_util::SinkExt;
    /// let (tx, rx) = segmq::unbounded();
    /// futures_executor::block_on(tx.sink().send(1)).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn sink(&self) -> SendSink<T> {
        self.clone().into_sink()
    }
}

/// The [`Sink`] of [`Sender::into_sink`] and [`Sender::sink`]; its error is [`SendError`],
/// which gives the refused message back.
///
/// * **Backpressure.** `start_send` puts the message in the queue at once if there is room;
///   on a full bounded queue the sink holds it, and `poll_ready` and `poll_flush` return
///   `Pending` until it is in the queue. So at most one message waits in the sink, and a
///   producer driven by `send`/`send_all`/`forward` is held back by the queue's capacity.
/// * **Closing.** `poll_close` flushes, then drops the sink's sender: if it was the last one,
///   the queue closes (receivers drain, then see "closed"). Later `start_send`s fail.
/// * **Cancel safety.** Dropping a pending `poll_ready`/`poll_flush` (e.g. a cancelled
///   `SinkExt::send`) loses nothing: the held message stays in the sink for the next flush,
///   and can be taken back with [`take_pending`](SendSink::take_pending). Dropping the sink
///   itself drops a held message, as dropping a [`SendFut`](crate::SendFut) does; a message
///   `start_send` put in the queue is in the queue.
/// * On a closed queue, the message comes back in the error: from `start_send`, or from
///   `poll_ready`/`poll_flush` if the sink held it. `poll_ready` with nothing held is ready
///   even on a closed queue; the next `start_send` then returns the message.
#[must_use = "sinks do nothing unless polled"]
pub struct SendSink<T> {
    /// `None` once closed by `poll_close`.
    tx: Option<Sender<T>>,
    /// A message accepted by `start_send` while the queue was full.
    pending: Option<T>,
    waiter: Waiter,
}

impl<T> SendSink<T> {
    /// The message the sink holds because the queue was full, taken back (not sent).
    ///
    /// ```
    /// use futures_sink::Sink;
    /// use std::pin::Pin;
    /// let (tx, _rx) = segmq::bounded(1);
    /// let mut sink = tx.into_sink();
    /// Pin::new(&mut sink).start_send(1).unwrap(); // into the queue
    /// Pin::new(&mut sink).start_send(2).unwrap(); // full: held by the sink
    /// assert_eq!(sink.take_pending(), Some(2));
    /// ```
    pub fn take_pending(&mut self) -> Option<T> {
        self.pending.take()
    }

    /// The sender this sink sends with; `None` once the sink was closed.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// assert!(tx.sink().sender().unwrap().same_channel(&tx));
    /// ```
    pub fn sender(&self) -> Option<&Sender<T>> {
        self.tx.as_ref()
    }

    /// Pushes the held message, if any, waiting for room.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        if self.pending.is_none() {
            return Poll::Ready(Ok(()));
        }
        let tx = self
            .tx
            .as_ref()
            .expect("a closed sink holds no message: poll_close flushed it");
        match std::task::ready!(tx.chan.poll_send(&mut self.pending, &mut self.waiter, cx)) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                Poll::Ready(Err(SendError(msg)))
            }
        }
    }
}

// The sink never pins its fields structurally: `pending` is moved in and out by value.
impl<T> Unpin for SendSink<T> {}

impl<T> Sink<T> for SendSink<T> {
    type Error = SendError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    /// # Panics
    ///
    /// If the sink still holds a message: `poll_ready` must return `Ready(Ok)` first.
    fn start_send(self: Pin<&mut Self>, msg: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        assert!(
            this.pending.is_none(),
            "SendSink::start_send called while a message waits for room; poll_ready first"
        );
        let Some(tx) = &this.tx else {
            return Err(SendError(msg));
        };
        match tx.chan.try_send(msg) {
            Ok(_) => Ok(()),
            Err(TrySendError::Full(msg)) => {
                this.pending = Some(msg);
                Ok(())
            }
            Err(TrySendError::Closed(msg)) => Err(SendError(msg)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_pending(cx))?;
        // Dropping the sender may close the queue (the last one); the waiter is idle here
        // (`poll_pending` finished it, or it never joined).
        this.tx = None;
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for SendSink<T> {
    fn drop(&mut self) {
        if let Some(tx) = &self.tx {
            tx.chan.cancel_send(&mut self.waiter);
        }
    }
}

impl<T> fmt::Debug for SendSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendSink")
            .field("closed", &self.tx.is_none())
            .field("holds_a_message", &self.pending.is_some())
            .finish()
    }
}
