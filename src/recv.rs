//! Receive-side adapters: the [`Recv`] future, the [`RecvStream`] stream and the iterators
//! ([`Iter`], [`TryIter`], [`Drain`], [`IntoIter`]).

use std::fmt;
use std::future::Future;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedFuture, FusedStream, Stream};

use crate::error::RecvError;
use crate::wait::{Channel, Waiter};
use crate::{Queue, Receiver};

/// Future of [`Queue::recv_async`]: the next message, or [`RecvError`] once the queue is closed
/// and drained. Cancel-safe (see [`Queue::recv_async`]).
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T> {
    chan: &'a Channel<T>,
    waiter: Waiter,
    done: bool,
}

impl<'a, T> Recv<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        Self {
            chan,
            waiter: Waiter::new(),
            done: false,
        }
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let out = std::task::ready!(this.chan.poll_recv(&mut this.waiter, cx));
        this.done = true;
        Poll::Ready(out.map(|(_, msg)| msg))
    }
}

impl<T> FusedFuture for Recv<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.waiter);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").field("done", &self.done).finish()
    }
}

/// Future of [`Queue::recv_batch_async`]: how many messages were moved into the buffer (at
/// least one, or 0 when `max` is 0), or [`RecvError`] once the queue is closed and drained.
/// Cancel-safe: the messages are moved into the buffer in the poll that completes.
#[must_use = "futures do nothing unless polled"]
pub struct RecvBatch<'a, T> {
    chan: &'a Channel<T>,
    buf: &'a mut Vec<T>,
    max: usize,
    waiter: Waiter,
    done: bool,
}

impl<'a, T> RecvBatch<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>, buf: &'a mut Vec<T>, max: usize) -> Self {
        Self {
            chan,
            buf,
            max,
            waiter: Waiter::new(),
            done: false,
        }
    }
}

impl<T> Future for RecvBatch<'_, T> {
    type Output = Result<usize, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let out =
            std::task::ready!(this
                .chan
                .poll_recv_batch(this.buf, this.max, &mut this.waiter, cx));
        this.done = true;
        Poll::Ready(out)
    }
}

impl<T> FusedFuture for RecvBatch<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for RecvBatch<'_, T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.waiter);
    }
}

impl<T> fmt::Debug for RecvBatch<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvBatch")
            .field("max", &self.max)
            .field("done", &self.done)
            .finish()
    }
}

/// Stream of [`Queue::stream`]: yields messages until the queue is closed and drained.
///
/// Dropping it between items is cancel-safe, like [`Recv`].
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<T> {
    queue: Queue<T>,
    waiter: Waiter,
    ended: bool,
}

impl<T> RecvStream<T> {
    pub(crate) fn new(queue: Queue<T>) -> Self {
        Self {
            queue,
            waiter: Waiter::new(),
            ended: false,
        }
    }

    /// The queue this stream reads from.
    ///
    /// ```
    /// let q = segmq::Queue::<u8>::unbounded();
    /// assert!(q.stream().queue().same_queue(&q));
    /// ```
    pub fn queue(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T> Stream for RecvStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        this.queue
            .chan
            .poll_next_message(&mut this.waiter, &mut this.ended, cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            (0, Some(0))
        } else {
            (self.queue.len(), None)
        }
    }
}

impl<T> FusedStream for RecvStream<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> Drop for RecvStream<T> {
    fn drop(&mut self) {
        self.queue.chan.cancel_recv(&mut self.waiter);
    }
}

impl<T> fmt::Debug for RecvStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("queue", &self.queue)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Blocking iterator of [`Queue::iter`] and [`Receiver::iter`](crate::Receiver::iter); ends
/// when the queue is closed and drained.
pub struct Iter<'a, T> {
    chan: &'a Channel<T>,
}

impl<'a, T> Iter<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        Self { chan }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.chan.recv_blocking(None).ok().map(|(_, msg)| msg)
    }
}

// Fused: `None` means closed and drained, which is final (nothing is accepted after close).
impl<T> FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}

/// Non-blocking iterator of [`Queue::try_iter`] and
/// [`Receiver::try_iter`](crate::Receiver::try_iter); ends, for good, at the first empty look
/// (it is fused: a message sent after that is left for the next receive).
///
/// A producer that keeps up can keep it going forever; [`Drain`] stops at what was there.
pub struct TryIter<'a, T> {
    chan: &'a Channel<T>,
    ended: bool,
}

impl<'a, T> TryIter<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        Self { chan, ended: false }
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.ended {
            return None;
        }
        let next = self.chan.try_recv().ok().map(|(_, msg)| msg);
        self.ended = next.is_none();
        next
    }
}

impl<T> FusedIterator for TryIter<'_, T> {}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Non-blocking iterator of [`Queue::drain`] and [`Receiver::drain`](crate::Receiver::drain):
/// takes at most the messages that were in the queue when it was made, so it ends even while
/// producers keep sending (unlike [`TryIter`]). Fused.
///
/// Messages it has not taken stay in the queue: dropping it part-way loses nothing. Other
/// receivers may take some of the counted messages first, so it can yield fewer.
pub struct Drain<'a, T> {
    chan: &'a Channel<T>,
    /// Messages it may still take (the queue's length when it was made, counted down).
    left: usize,
}

impl<'a, T> Drain<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        Self {
            chan,
            left: chan.flavor.len(),
        }
    }
}

impl<T> Iterator for Drain<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        match self.chan.try_recv() {
            Ok((_, msg)) => {
                self.left -= 1;
                Some(msg)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

impl<T> FusedIterator for Drain<'_, T> {}

impl<T> fmt::Debug for Drain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drain")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

/// Owning blocking iterator of `for msg in receiver` (`IntoIterator for Receiver`); ends when
/// the queue is closed and drained. Fused.
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> IntoIter<T> {
    pub(crate) fn new(rx: Receiver<T>) -> Self {
        Self { rx }
    }

    /// The receiver back (it can still receive).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// let mut it = rx.into_iter();
    /// assert_eq!(it.next(), Some(1));
    /// tx.send(2).unwrap();
    /// assert_eq!(it.into_receiver().recv(), Ok(2));
    /// ```
    pub fn into_receiver(self) -> Receiver<T> {
        self.rx
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

// Fused as `Iter`: closed and drained is final.
impl<T> FusedIterator for IntoIter<T> {}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter").field("rx", &self.rx).finish()
    }
}
