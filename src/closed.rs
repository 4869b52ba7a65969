//! [`Closed`]: the future of [`Sender::closed`], ready once the queue is closed.
//!
//! # Design
//!
//! It waits on the channel's `close_ops` event, which only the closing call notifies (with
//! `notify_all`), never on `send_ops`/`recv_ops`: a close-waiter there could take the one
//! notification meant for a counted sender or receiver and strand it. Each round is "listen,
//! then check `is_closed`": the closer sets `CLOSED` (a `SeqCst` RMW) before `notify_all`
//! (which fences before it reads the listener list), and `listen` fences after it registers,
//! so either the check sees the flag or the notification finds the listener
//! (flavor/mod.rs, "Close"). `loom-tests/weak.rs` models it against the last receiver's drop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::FusedFuture;

use crate::handles::Sender;
use crate::sync::event::Listener;
use crate::wait::Channel;

impl<T> Sender<T> {
    /// A future that completes once the queue is closed: every receiver was dropped, or some
    /// handle called `close`. Use it to stop producing when nobody listens any more.
    ///
    /// Cancel-safe: it holds no message and no slot, only a listener.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u32>();
    /// let producer = std::thread::spawn(move || {
    ///     futures_executor::block_on(tx.closed());
    ///     tx.send(1).is_err()
    /// });
    /// drop(rx); // the last receiver: the queue closes, `closed()` completes
    /// assert!(producer.join().unwrap());
    /// ```
    pub fn closed(&self) -> Closed<'_, T> {
        Closed {
            chan: &self.chan,
            listener: None,
            done: false,
        }
    }
}

/// Future of [`Sender::closed`]: completes once the queue is closed.
#[must_use = "futures do nothing unless polled"]
pub struct Closed<'a, T> {
    chan: &'a Channel<T>,
    listener: Option<Listener>,
    done: bool,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            // The check after every `listen` (see the module docs).
            if this.chan.flavor.is_closed() {
                this.listener = None;
                this.done = true;
                return Poll::Ready(());
            }
            match &mut this.listener {
                None => this.listener = Some(this.chan.close_ops.listen()),
                Some(listener) => {
                    std::task::ready!(Pin::new(listener).poll(cx));
                    this.listener = None;
                }
            }
        }
    }
}

impl<T> FusedFuture for Closed<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closed").field("done", &self.done).finish()
    }
}
