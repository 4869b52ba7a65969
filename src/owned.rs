//! Owned (`'static`) futures: [`OwnedRecv`] of [`Receiver::into_recv_async`] and
//! [`OwnedSend`] of [`Sender::into_send_async`], for tasks that must not borrow a handle.
//!
//! They hold the handle itself, so they count as a receiver or sender while they live, and run
//! the same poll steps as [`Recv`](crate::Recv) and [`SendFut`](crate::SendFut)
//! (`Channel::poll_recv`/`poll_send`), with the same cancel safety.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::FusedFuture;

use crate::error::{RecvError, SendError, SendTimeoutError};
use crate::handles::{Receiver, Sender};
use crate::wait::Waiter;

impl<T> Receiver<T> {
    /// Receives one message asynchronously with a future that owns this receiver (`'static`
    /// when `T` is), so it can be spawned; clone the receiver first to keep one. Cancel-safe,
    /// as [`recv_async`](Receiver::recv_async).
    ///
    /// The future counts as a receiver until it is dropped: if it holds the last one, dropping
    /// it closes the queue and drops the queued messages, as dropping the receiver would.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// let task = std::thread::spawn({
    ///     let fut = rx.clone().into_recv_async(); // 'static: no borrow of `rx`
    ///     move || futures_executor::block_on(fut)
    /// });
    /// tx.send(3).unwrap();
    /// assert_eq!(task.join().unwrap(), Ok(3));
    /// ```
    pub fn into_recv_async(self) -> OwnedRecv<T> {
        OwnedRecv {
            rx: self,
            waiter: Waiter::new(),
            done: false,
        }
    }
}

impl<T> Sender<T> {
    /// Sends a message asynchronously with a future that owns this sender (`'static` when `T`
    /// is); clone the sender first to keep one. Cancel-safe, as
    /// [`send_async`](Sender::send_async): a dropped future drops its message, never a
    /// half-written slot.
    ///
    /// The future counts as a sender until it is dropped: if it holds the last one, dropping it
    /// closes the queue.
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded(1);
    /// let fut = tx.clone().into_send_async(8);
    /// let task = std::thread::spawn(move || futures_executor::block_on(fut));
    /// assert_eq!(rx.recv(), Ok(8));
    /// assert_eq!(task.join().unwrap(), Ok(()));
    /// ```
    pub fn into_send_async(self, msg: T) -> OwnedSend<T> {
        OwnedSend {
            tx: self,
            msg: Some(msg),
            waiter: Waiter::new(),
        }
    }
}

/// Future of [`Receiver::into_recv_async`]: the next message, or [`RecvError`] once the queue
/// is closed and drained.
#[must_use = "futures do nothing unless polled"]
pub struct OwnedRecv<T> {
    rx: Receiver<T>,
    waiter: Waiter,
    done: bool,
}

impl<T> OwnedRecv<T> {
    /// The receiver this future owns.
    ///
    /// ```
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// assert_eq!(rx.into_recv_async().receiver().receiver_count(), 1);
    /// ```
    pub fn receiver(&self) -> &Receiver<T> {
        &self.rx
    }
}

impl<T> Future for OwnedRecv<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let out = std::task::ready!(this.rx.chan.poll_recv(&mut this.waiter, cx));
        this.done = true;
        Poll::Ready(out.map(|(_, msg)| msg))
    }
}

impl<T> FusedFuture for OwnedRecv<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for OwnedRecv<T> {
    fn drop(&mut self) {
        // Before the receiver (a field) is dropped, which may discard the queue.
        self.rx.chan.cancel_recv(&mut self.waiter);
    }
}

impl<T> fmt::Debug for OwnedRecv<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedRecv")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Future of [`Sender::into_send_async`]: completes once the message is in the queue, or gives
/// it back if the queue is closed.
#[must_use = "futures do nothing unless polled"]
pub struct OwnedSend<T> {
    tx: Sender<T>,
    msg: Option<T>,
    waiter: Waiter,
}

impl<T> OwnedSend<T> {
    /// The sender this future owns.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded();
    /// assert_eq!(tx.into_send_async(1).sender().sender_count(), 1);
    /// ```
    pub fn sender(&self) -> &Sender<T> {
        &self.tx
    }
}

// The future never pins its fields structurally: `msg` is moved in and out by value.
impl<T> Unpin for OwnedSend<T> {}

impl<T> Future for OwnedSend<T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(this.msg.is_some(), "`OwnedSend` polled after completion");
        match std::task::ready!(this.tx.chan.poll_send(&mut this.msg, &mut this.waiter, cx)) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                Poll::Ready(Err(SendError(msg)))
            }
        }
    }
}

impl<T> FusedFuture for OwnedSend<T> {
    fn is_terminated(&self) -> bool {
        self.msg.is_none()
    }
}

impl<T> Drop for OwnedSend<T> {
    fn drop(&mut self) {
        // Before the sender (a field) is dropped, which may close the queue.
        self.tx.chan.cancel_send(&mut self.waiter);
    }
}

impl<T> fmt::Debug for OwnedSend<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSend")
            .field("done", &self.msg.is_none())
            .finish_non_exhaustive()
    }
}
