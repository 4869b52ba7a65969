//! Channel handles: [`unbounded`] and [`bounded`] return a [`Sender`] and a [`Receiver`] over one
//! queue, for users who come from crossbeam-channel, flume or async-channel.
//!
//! # Design
//!
//! The handles share the queue's `Channel` with two handle counts. The queue closes when the
//! last `Sender` is dropped (receivers drain what was sent, then see "closed"), and when the
//! last `Receiver` is dropped, which also drops every queued message at once (nobody can take
//! them any more, so their memory is given back now, not when the senders go) and makes every
//! later send fail with its message given back. If a message's `Drop` panics during that
//! discard, the other messages are still dropped before the panic goes on (as `Vec` does; a
//! second panicking `Drop` then aborts the process, as it does for `Vec`). A `Sender` only has the sending half of the
//! [`Queue`](crate::Queue) API, a `Receiver` only the receiving half, and `Receiver` is itself a
//! [`Stream`].
//!
//! The counts use the `Arc` protocol (`Relaxed` increments from a live handle, `AcqRel`
//! decrements); what makes "last" race-free against sends is that the queue's own close is an
//! RMW on the tail word that every push CAS is ordered against (`flavor/mod.rs`).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::{FusedStream, Stream};

use crate::error::{
    RecvError, RecvTimeoutError, SendBatchError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use crate::flavor::{bounded::Bounded, unbounded::Unbounded, Flavor};
use crate::recv::{Drain, IntoIter, Iter, Recv, RecvBatch, TryIter};
use crate::send::SendFut;
use crate::sync::Arc;
use crate::wait::{Channel, Waiter};

/// Creates an unbounded channel: a [`Sender`] and a [`Receiver`] over one unbounded queue.
///
/// ```
/// let (tx, rx) = segmq::unbounded();
/// let worker = std::thread::spawn(move || rx.iter().sum::<u32>());
/// for i in 1..=10 {
///     tx.send(i).unwrap();
/// }
/// drop(tx); // the last sender closes the queue: the worker drains, then its loop ends
/// assert_eq!(worker.join().unwrap(), 55);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(Flavor::Unbounded(Unbounded::new()))
}

/// Creates a bounded channel of `capacity` slots: sends wait while it is full.
///
/// # Panics
///
/// If `capacity` is 0 or above 2^40, as [`Queue::bounded`](crate::Queue::bounded), whose docs
/// say why there is no rendezvous flavour and what to use instead (`bounded(1)`).
///
/// ```
/// use segmq::TrySendError;
/// let (tx, rx) = segmq::bounded(1);
/// tx.send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    pair(Flavor::Bounded(Bounded::new(capacity)))
}

fn pair<T>(flavor: Flavor<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Channel::new(flavor));
    (Sender::new(chan.clone()), Receiver::new(chan))
}

/// The sending half of a channel made by [`unbounded`] or [`bounded`]. Cloning makes another
/// sender; when the last one is dropped, the queue closes.
///
/// ```
/// let (tx, rx) = segmq::unbounded();
/// let tx2 = tx.clone();
/// tx.send("a").unwrap();
/// tx2.send("b").unwrap();
/// drop((tx, tx2));
/// assert_eq!(rx.iter().collect::<Vec<_>>(), ["a", "b"]);
/// ```
pub struct Sender<T> {
    pub(crate) chan: Arc<Channel<T>>,
}

impl<T> Sender<T> {
    fn new(chan: Arc<Channel<T>>) -> Self {
        Channel::<T>::acquire_handle(&chan.senders);
        Self { chan }
    }

    /// A sender over `chan` whose place in the sender count was already taken
    /// (`WeakSender::upgrade`).
    pub(crate) fn adopt(chan: Arc<Channel<T>>) -> Self {
        Self { chan }
    }

    /// Sends a message, waiting for room if a bounded queue is full. Fails, giving the message
    /// back, once the queue is closed (every receiver dropped, or [`close`](Sender::close)).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2), Err(segmq::SendError(2)));
    /// ```
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        match self.chan.send_blocking(msg, None) {
            Ok(_) => Ok(()),
            Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                Err(SendError(msg))
            }
        }
    }

    /// Sends a message if that is possible without waiting.
    ///
    /// ```
    /// use segmq::TrySendError;
    /// let (tx, _rx) = segmq::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(msg).map(drop)
    }

    /// Sends a message without waiting: on a full bounded channel the *oldest* queued message
    /// is displaced and returned (see [`Queue::force_send`](crate::Queue::force_send)). Fails
    /// only if the channel is closed.
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded(1);
    /// assert_eq!(tx.force_send("old"), Ok(None));
    /// assert_eq!(tx.force_send("new"), Ok(Some("old")));
    /// assert_eq!(rx.recv(), Ok("new"));
    /// ```
    pub fn force_send(&self, msg: T) -> Result<Option<T>, SendError<T>> {
        match self.chan.force_send(msg) {
            Ok((_, displaced)) => Ok(displaced.map(|(_, old)| old)),
            Err(msg) => Err(SendError(msg)),
        }
    }

    /// Sends a message, waiting at most `timeout` for room.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::SendTimeoutError;
    /// let (tx, _rx) = segmq::bounded(1);
    /// tx.send(1).unwrap();
    /// assert_eq!(tx.send_timeout(2, Duration::from_millis(1)), Err(SendTimeoutError::Timeout(2)));
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.send_deadline(msg, deadline),
            None => self.send(msg).map_err(SendTimeoutError::from),
        }
    }

    /// Sends a message, waiting until `deadline` at the latest for room.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = segmq::bounded(1);
    /// tx.send_deadline(1, Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan.send_blocking(msg, Some(deadline)).map(drop)
    }

    /// Sends a message asynchronously, waiting without blocking a thread while a bounded queue
    /// is full. Cancel-safe: see [`SendFut`].
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded(1);
    /// futures_executor::block_on(tx.send_async(5)).unwrap();
    /// assert_eq!(rx.recv(), Ok(5));
    /// ```
    pub fn send_async(&self, msg: T) -> SendFut<'_, T> {
        SendFut::new(&self.chan, msg)
    }

    /// Sends a batch, claiming runs of slots with one atomic step each; see
    /// [`Queue::send_batch`](crate::Queue::send_batch).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// assert_eq!(tx.send_batch(0..64), Ok(64));
    /// assert_eq!(rx.len(), 64);
    /// ```
    pub fn send_batch<I: IntoIterator<Item = T>>(
        &self,
        msgs: I,
    ) -> Result<usize, SendBatchError<T>> {
        self.chan.send_batch_iter(msgs, true)
    }

    /// Sends as much of a batch as fits without waiting; see
    /// [`Queue::try_send_batch`](crate::Queue::try_send_batch).
    ///
    /// ```
    /// let (tx, _rx) = segmq::bounded(2);
    /// let err = tx.try_send_batch([1, 2, 3]).unwrap_err();
    /// assert_eq!((err.accepted(), err.into_rest()), (2, vec![3]));
    /// ```
    pub fn try_send_batch<I: IntoIterator<Item = T>>(
        &self,
        msgs: I,
    ) -> Result<usize, SendBatchError<T>> {
        self.chan.send_batch_iter(msgs, false)
    }

    /// Closes the queue for every handle: sends fail from now on; receivers drain what was
    /// sent. Returns `true` if this call closed it.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// assert!(tx.close());
    /// assert_eq!(rx.recv(), Err(segmq::RecvError));
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the queue is closed.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.flavor.is_closed()
    }

    /// Number of messages in the queue (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.flavor.len()
    }

    /// Whether the queue holds no message (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.flavor.is_empty()
    }

    /// Whether a bounded queue has no free slot (a snapshot); always `false` when unbounded.
    ///
    /// ```
    /// let (tx, _rx) = segmq::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(tx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// How blocking calls on this channel wait for their counterpart (shared by every handle):
    /// spin up to [`WaitStrategy::DEFAULT_SPIN`](crate::WaitStrategy::DEFAULT_SPIN), then park, by default. See
    /// [`WaitStrategy`](crate::WaitStrategy).
    ///
    /// ```
    /// use segmq::WaitStrategy;
    /// let (q, _rx) = segmq::unbounded::<u8>();
    /// q.set_wait_strategy(WaitStrategy::BusySpin);
    /// assert_eq!(q.wait_strategy(), WaitStrategy::BusySpin);
    /// ```
    pub fn set_wait_strategy(&self, strategy: crate::WaitStrategy) {
        self.chan.wait.set(strategy);
    }

    /// The current [`WaitStrategy`](crate::WaitStrategy) of this channel.
    pub fn wait_strategy(&self) -> crate::WaitStrategy {
        self.chan.wait.get()
    }

    /// The capacity of a bounded channel, `None` for an unbounded one.
    ///
    /// ```
    /// assert_eq!(segmq::bounded::<u8>(8).0.capacity(), Some(8));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.flavor.capacity()
    }

    /// Number of live senders (a snapshot).
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// let _tx2 = tx.clone();
    /// assert_eq!(tx.sender_count(), 2);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(crate::sync::Ordering::Relaxed)
    }

    /// Number of live receivers (a snapshot).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// drop(rx);
    /// assert_eq!(tx.receiver_count(), 0);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(crate::sync::Ordering::Relaxed)
    }

    /// Whether two senders belong to the same channel.
    ///
    /// ```
    /// let (tx, _rx) = segmq::unbounded::<u8>();
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&segmq::unbounded().0));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    /// Another sender of the same channel.
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if Channel::<T>::release_handle(&self.chan.senders) {
            self.chan.close();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a channel made by [`unbounded`] or [`bounded`]. Cloning makes another
/// receiver (each message goes to one of them); when the last one is dropped, the queue closes
/// and its messages are dropped at once (all of them, even when one's `Drop` panics: the
/// others are still dropped, and the panic goes on afterwards, as for a `Vec`).
///
/// It is also a [`Stream`] of messages that ends once the queue is closed and drained, and it
/// owns its share of the queue, so it is already the `'static` stream that flume's
/// `into_stream` returns (clone it to keep a receiver).
///
/// ```
/// use futures_util::StreamExt;
/// let (tx, mut rx) = segmq::unbounded();
/// tx.send_batch([1, 2, 3]).unwrap();
/// drop(tx);
/// let sum = futures_executor::block_on(async { rx.by_ref().fold(0, |a, b| async move { a + b }).await });
/// assert_eq!(sum, 6);
/// ```
#[doc(alias = "into_stream")]
pub struct Receiver<T> {
    pub(crate) chan: Arc<Channel<T>>,
    /// The stream's waiting state (unused by the other calls, which have their own).
    waiter: Waiter,
    /// The stream has ended.
    ended: bool,
}

impl<T> Receiver<T> {
    fn new(chan: Arc<Channel<T>>) -> Self {
        Channel::<T>::acquire_handle(&chan.receivers);
        Self {
            chan,
            waiter: Waiter::new(),
            ended: false,
        }
    }

    /// Receives the oldest message, blocking while the queue is empty; [`RecvError`] once it
    /// is closed (every sender dropped, or closed by hand) and drained.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv(), Ok(1));
    /// assert_eq!(rx.recv(), Err(segmq::RecvError));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.chan
            .recv_blocking(None)
            .map(|(_, msg)| msg)
            .map_err(|_| RecvError)
    }

    /// Receives a message if one is there now.
    ///
    /// ```
    /// use segmq::TryRecvError;
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv().map(|(_, msg)| msg)
    }

    /// Receives a message, blocking for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::RecvTimeoutError;
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            None => self.recv().map_err(RecvTimeoutError::from),
        }
    }

    /// Receives a message, blocking until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(3).unwrap();
    /// assert_eq!(rx.recv_deadline(Instant::now() + Duration::from_secs(1)), Ok(3));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan.recv_blocking(Some(deadline)).map(|(_, msg)| msg)
    }

    /// Receives a message asynchronously; cancel-safe (see
    /// [`Queue::recv_async`](crate::Queue::recv_async)).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(9).unwrap();
    /// assert_eq!(futures_executor::block_on(rx.recv_async()), Ok(9));
    /// ```
    pub fn recv_async(&self) -> Recv<'_, T> {
        Recv::new(&self.chan)
    }

    /// Waits for at least one message, then moves up to `max` into `buf`; see
    /// [`Queue::recv_batch`](crate::Queue::recv_batch).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send_batch(0..10).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.recv_batch(&mut buf, 64), Ok(10));
    /// ```
    pub fn recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        self.chan
            .recv_batch_blocking(buf, max, None)
            .map_err(|_| RecvError)
    }

    /// Moves up to `max` messages that are there now into `buf`; see
    /// [`Queue::try_recv_batch`](crate::Queue::try_recv_batch).
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded(4);
    /// tx.send_batch([1, 2, 3]).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(rx.try_recv_batch(&mut buf, 2), Ok(2));
    /// assert_eq!(buf, [1, 2]);
    /// ```
    pub fn try_recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        self.chan.try_recv_batch(buf, max)
    }

    /// The async [`recv_batch`](Receiver::recv_batch); cancel-safe.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send_batch([7, 8]).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(futures_executor::block_on(rx.recv_batch_async(&mut buf, 16)), Ok(2));
    /// ```
    pub fn recv_batch_async<'a>(&'a self, buf: &'a mut Vec<T>, max: usize) -> RecvBatch<'a, T> {
        RecvBatch::new(&self.chan, buf, max)
    }

    /// A blocking iterator that ends when the queue is closed and drained.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&self.chan)
    }

    /// A non-blocking iterator over the messages that are there now.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send_batch([1, 2]).unwrap();
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(&self.chan)
    }

    /// A non-blocking iterator over at most the messages that are in the queue now (see
    /// [`Queue::drain`](crate::Queue::drain)): it ends even while senders keep sending.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send_batch([1, 2]).unwrap();
    /// let drained: Vec<_> = rx.drain().collect();
    /// assert_eq!(drained, [1, 2]);
    /// ```
    pub fn drain(&self) -> Drain<'_, T> {
        Drain::new(&self.chan)
    }

    /// Closes the queue for every handle: sends fail from now on; receivers still drain what
    /// was sent. Returns `true` if this call closed it.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// rx.close();
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.recv(), Ok(1));
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the queue is closed.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.flavor.is_closed()
    }

    /// Number of messages in the queue (a snapshot).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.flavor.len()
    }

    /// Whether the queue holds no message (a snapshot).
    ///
    /// ```
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.flavor.is_empty()
    }

    /// Whether a bounded queue has no free slot (a snapshot); always `false` when unbounded.
    ///
    /// ```
    /// let (tx, rx) = segmq::bounded(1);
    /// tx.send(1).unwrap();
    /// assert!(rx.is_full());
    /// rx.recv().unwrap();
    /// assert!(!rx.is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// How blocking calls on this channel wait for their counterpart (shared by every handle):
    /// spin up to [`WaitStrategy::DEFAULT_SPIN`](crate::WaitStrategy::DEFAULT_SPIN), then park, by default. See
    /// [`WaitStrategy`](crate::WaitStrategy).
    ///
    /// ```
    /// use segmq::WaitStrategy;
    /// let (_tx, q) = segmq::unbounded::<u8>();
    /// q.set_wait_strategy(WaitStrategy::BusySpin);
    /// assert_eq!(q.wait_strategy(), WaitStrategy::BusySpin);
    /// ```
    pub fn set_wait_strategy(&self, strategy: crate::WaitStrategy) {
        self.chan.wait.set(strategy);
    }

    /// The current [`WaitStrategy`](crate::WaitStrategy) of this channel.
    pub fn wait_strategy(&self) -> crate::WaitStrategy {
        self.chan.wait.get()
    }

    /// The capacity of a bounded channel, `None` for an unbounded one.
    ///
    /// ```
    /// assert_eq!(segmq::unbounded::<u8>().1.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.flavor.capacity()
    }

    /// Number of live senders (a snapshot).
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded::<u8>();
    /// drop(tx);
    /// assert_eq!(rx.sender_count(), 0);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.senders.load(crate::sync::Ordering::Relaxed)
    }

    /// Number of live receivers (a snapshot).
    ///
    /// ```
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// let _rx2 = rx.clone();
    /// assert_eq!(rx.receiver_count(), 2);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.chan.receivers.load(crate::sync::Ordering::Relaxed)
    }

    /// Whether two receivers belong to the same channel.
    ///
    /// ```
    /// let (_tx, rx) = segmq::unbounded::<u8>();
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Receiver<T> {
    /// Another receiver of the same channel (with its own stream state).
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.cancel_recv(&mut self.waiter);
        if Channel::<T>::release_handle(&self.chan.receivers) {
            self.chan.discard_all();
        }
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        this.chan
            .poll_next_message(&mut this.waiter, &mut this.ended, cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.ended {
            (0, Some(0))
        } else {
            (self.len(), None)
        }
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    /// A blocking iterator that owns the receiver: `for msg in rx { .. }`.
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send_batch([1, 2, 3]).unwrap();
    /// drop(tx);
    /// let mut sum = 0;
    /// for n in rx {
    ///     sum += n;
    /// }
    /// assert_eq!(sum, 6);
    /// ```
    fn into_iter(self) -> IntoIter<T> {
        IntoIter::new(self)
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    /// `for msg in &rx { .. }`: [`Receiver::iter`].
    ///
    /// ```
    /// let (tx, rx) = segmq::unbounded();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// for n in &rx {
    ///     assert_eq!(n, 1);
    /// }
    /// assert!(rx.is_closed());
    /// ```
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

// Unwind safety of both handles (as crossbeam-channel, flume and std's mpsc): user code that can panic runs
// only outside the queue's critical steps (a message's `Drop` after it left its slot or during
// the last receiver's discard, a batch's iterator before any slot is claimed, a waker), and
// every step is one atomic operation that either happened or did not, so a handle observed
// after a caught panic shows a consistent queue: messages are received or still queued, never
// half-written. The `UnsafeCell` slots that would make the auto traits fail are only touched
// by the owner of a claim.
impl<T> std::panic::UnwindSafe for Sender<T> {}
impl<T> std::panic::RefUnwindSafe for Sender<T> {}
impl<T> std::panic::UnwindSafe for Receiver<T> {}
impl<T> std::panic::RefUnwindSafe for Receiver<T> {}
