//! The [`SendFut`] future of [`Queue::send_async`](crate::Queue::send_async).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::FusedFuture;

use crate::error::{SendError, SendTimeoutError};
use crate::wait::{Channel, Waiter};

/// Future of [`Queue::send_async`](crate::Queue::send_async): completes once the message is in
/// the queue, or gives it back if the queue is closed.
///
/// Cancel-safe: the message stays inside the future until one atomic step puts it in a slot,
/// so dropping the future drops the message with it and never leaves a half-written slot; a
/// wake-up it received but did not use passes on to another waiting sender.
#[must_use = "futures do nothing unless polled"]
///
/// Earlier versions named it `Send`, which `use segmq::*` turned into a shadow of
/// [`std::marker::Send`]; no alias is kept, since an alias would keep that trap.
pub struct SendFut<'a, T>(SendSeq<'a, T>);

impl<'a, T> SendFut<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>, msg: T) -> Self {
        Self(SendSeq::new(chan, msg))
    }
}

impl<T> Future for SendFut<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.map(drop))
    }
}

impl<T> FusedFuture for SendFut<'_, T> {
    fn is_terminated(&self) -> bool {
        self.0.msg.is_none()
    }
}

/// The send future behind [`SendFut`], which also yields the message's sequence number (used by
/// the MQ for message IDs).
pub(crate) struct SendSeq<'a, T> {
    chan: &'a Channel<T>,
    msg: Option<T>,
    waiter: Waiter,
}

impl<'a, T> SendSeq<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>, msg: T) -> Self {
        Self {
            chan,
            msg: Some(msg),
            waiter: Waiter::new(),
        }
    }
}

// The future never pins its fields structurally: `msg` is moved in and out by value.
impl<T> Unpin for SendSeq<'_, T> {}

impl<T> Future for SendSeq<'_, T> {
    type Output = Result<u64, SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(this.msg.is_some(), "`SendFut` polled after completion");
        match std::task::ready!(this.chan.poll_send(&mut this.msg, &mut this.waiter, cx)) {
            Ok(seq) => Poll::Ready(Ok(seq)),
            Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                Poll::Ready(Err(SendError(msg)))
            }
        }
    }
}

impl<T> Drop for SendSeq<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_send(&mut self.waiter);
    }
}

impl<T> fmt::Debug for SendFut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFut")
            .field("done", &self.0.msg.is_none())
            .finish()
    }
}
