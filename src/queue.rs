//! [`Queue<T>`]: the public handle, one type for every flavour.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{
    RecvError, RecvTimeoutError, SendBatchError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
use crate::flavor::{bounded::Bounded, unbounded::Unbounded, Flavor};
use crate::recv::{Drain, Iter, Recv, RecvBatch, RecvStream, TryIter};
use crate::send::SendFut;
use crate::sync::Arc;
use crate::wait::Channel;

/// A multi-producer multi-consumer queue; every clone is another handle to the same queue.
///
/// * Sending never blocks on an unbounded queue. After [`close`](Queue::close), every send fails
///   and gives the message back.
/// * Receiving takes messages in FIFO order (per producer; across producers, in the order their
///   sends claimed a slot). Each accepted message is received exactly once, or dropped exactly
///   once when the last handle is dropped (a panicking message `Drop` does not stop the others
///   from being dropped and their memory freed; a second one aborts, as for `Vec`).
/// * Receivers may block ([`recv`](Queue::recv), [`recv_timeout`](Queue::recv_timeout)) or await
///   ([`recv_async`](Queue::recv_async), [`stream`](Queue::stream)) on the same queue at once.
///
/// ```
/// use segmq::Queue;
///
/// let q = Queue::unbounded();
/// let worker = {
///     let q = q.clone();
///     std::thread::spawn(move || q.iter().sum::<u64>())
/// };
/// for i in 1..=100 {
///     q.send(i).unwrap();
/// }
/// q.close(); // no more sends; the worker drains, then its iterator ends
/// assert_eq!(worker.join().unwrap(), 5050);
/// ```
pub struct Queue<T> {
    pub(crate) chan: Arc<Channel<T>>,
}

impl<T> Queue<T> {
    /// Creates an unbounded queue: a lock-free linked list of blocks that grows with the load
    /// and gives its memory back as it is drained.
    ///
    /// ```
    /// let q = segmq::Queue::<String>::unbounded();
    /// assert_eq!(q.capacity(), None);
    /// ```
    pub fn unbounded() -> Self {
        Self::from_flavor(Flavor::Unbounded(Unbounded::new()))
    }

    /// Creates a bounded queue: a lock-free ring buffer of `capacity` slots. When it is full,
    /// [`send`](Queue::send) waits for room, [`try_send`](Queue::try_send) returns
    /// [`TrySendError::Full`], [`send_timeout`](Queue::send_timeout) waits up to a limit and
    /// [`send_async`](Queue::send_async) waits without blocking a thread.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0 or above 2^40. segmq has no rendezvous flavour (crossbeam's
    /// `bounded(0)`, where a send completes only when a receiver takes the message): every
    /// message waits in a slot, which is what keeps sends cancel-safe and lets a closed queue
    /// be drained. For a hand-off, use `bounded(1)`; to also wait until the receiver took the
    /// message, have it answer on a second `bounded(1)` queue.
    ///
    /// ```
    /// use segmq::{Queue, TrySendError};
    /// let q = Queue::bounded(2);
    /// q.send(1).unwrap();
    /// q.send(2).unwrap();
    /// assert_eq!(q.try_send(3), Err(TrySendError::Full(3)));
    /// assert_eq!(q.capacity(), Some(2));
    /// ```
    pub fn bounded(capacity: usize) -> Self {
        Self::from_flavor(Flavor::Bounded(Bounded::new(capacity)))
    }

    pub(crate) fn from_flavor(flavor: Flavor<T>) -> Self {
        Self {
            chan: Arc::new(Channel::new(flavor)),
        }
    }

    /// Sends a message. On an unbounded queue this never blocks; on a full bounded queue it
    /// waits for room.
    ///
    /// Fails only if the queue is closed (before or while waiting); the message comes back in
    /// the error.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send("hello").unwrap();
    /// assert_eq!(q.recv(), Ok("hello"));
    /// ```
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        match self.chan.send_blocking(msg, None) {
            Ok(_) => Ok(()),
            Err(SendTimeoutError::Closed(msg) | SendTimeoutError::Timeout(msg)) => {
                Err(SendError(msg))
            }
        }
    }

    /// Sends a message, waiting at most `timeout` for room in a full bounded queue.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Queue, SendTimeoutError};
    /// let q = Queue::bounded(1);
    /// q.send(1).unwrap();
    /// let err = q.send_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, SendTimeoutError::Timeout(2));
    /// ```
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.send_deadline(msg, deadline),
            None => self.send(msg).map_err(SendTimeoutError::from),
        }
    }

    /// Sends a message, waiting until `deadline` at the latest for room in a full bounded
    /// queue.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = segmq::Queue::bounded(4);
    /// q.send_deadline(1, Instant::now() + Duration::from_secs(1)).unwrap();
    /// assert_eq!(q.recv(), Ok(1));
    /// ```
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.chan.send_blocking(msg, Some(deadline)).map(drop)
    }

    /// Sends a message asynchronously, waiting without blocking a thread while a bounded queue
    /// is full. Cancel-safe: see [`SendFut`].
    ///
    /// ```
    /// let q = segmq::Queue::bounded(1);
    /// futures_executor::block_on(q.send_async(5)).unwrap();
    /// assert_eq!(q.recv(), Ok(5));
    /// ```
    pub fn send_async(&self, msg: T) -> SendFut<'_, T> {
        SendFut::new(&self.chan, msg)
    }

    /// Sends a message if that is possible without waiting.
    ///
    /// ```
    /// use segmq::{Queue, TrySendError};
    /// let q = Queue::unbounded();
    /// assert_eq!(q.try_send(1), Ok(()));
    /// q.close();
    /// assert_eq!(q.try_send(2), Err(TrySendError::Closed(2)));
    /// ```
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(msg).map(drop)
    }

    /// Sends a message without waiting: on a full bounded queue the *oldest* queued message is
    /// displaced and returned (`Ok(Some(oldest))`), so a latency-sensitive producer never
    /// blocks and receivers see the newest messages (a drop-oldest overflow policy). On an
    /// unbounded queue, or with room, it is [`try_send`](Queue::try_send) and returns
    /// `Ok(None)`. The rest keep their FIFO order; each message is either received or handed
    /// back exactly once. Fails only if the queue is closed (the message comes back).
    ///
    /// ```
    /// let q = segmq::Queue::bounded(2);
    /// assert_eq!(q.force_send(1), Ok(None));
    /// assert_eq!(q.force_send(2), Ok(None));
    /// assert_eq!(q.force_send(3), Ok(Some(1)), "the oldest makes room");
    /// assert_eq!((q.recv(), q.recv()), (Ok(2), Ok(3)));
    /// q.close();
    /// assert_eq!(q.force_send(4), Err(segmq::SendError(4)));
    /// ```
    pub fn force_send(&self, msg: T) -> Result<Option<T>, SendError<T>> {
        match self.chan.force_send(msg) {
            Ok((_, displaced)) => Ok(displaced.map(|(_, old)| old)),
            Err(msg) => Err(SendError(msg)),
        }
    }

    /// Sends every message of `msgs`, in order, claiming a run of slots with one atomic step
    /// where the flavour allows it (up to a block of 31 on an unbounded queue, up to the free
    /// slots of a bounded one). On a full bounded queue it waits for room as [`send`](Queue::send)
    /// does. Returns how many messages were sent.
    ///
    /// Fails only if the queue is closed (before or while waiting): the messages not accepted
    /// come back in the error, in order. The batch is collected into a `Vec` first (no copy when
    /// `msgs` already is one), so the iterator runs no code while slots are claimed.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// assert_eq!(q.send_batch(0..100), Ok(100));
    /// assert_eq!(q.len(), 100);
    /// q.close();
    /// let err = q.send_batch(vec![100, 101]).unwrap_err();
    /// assert!(err.is_closed());
    /// assert_eq!(err.into_rest(), [100, 101]);
    /// ```
    pub fn send_batch<I: IntoIterator<Item = T>>(
        &self,
        msgs: I,
    ) -> Result<usize, SendBatchError<T>> {
        self.chan.send_batch_iter(msgs, true)
    }

    /// Sends as many messages of `msgs` as fit without waiting, in order, claiming a run of
    /// slots per atomic step. Returns how many were sent (all of them) or, if the queue is full
    /// or closed, an error with the messages not accepted.
    ///
    /// ```
    /// use segmq::Queue;
    /// let q = Queue::bounded(3);
    /// assert_eq!(q.try_send_batch([1, 2]), Ok(2));
    /// let err = q.try_send_batch([3, 4, 5]).unwrap_err();
    /// assert!(err.is_full());
    /// assert_eq!((err.accepted(), err.rest()), (1, &[4, 5][..]));
    /// ```
    pub fn try_send_batch<I: IntoIterator<Item = T>>(
        &self,
        msgs: I,
    ) -> Result<usize, SendBatchError<T>> {
        self.chan.send_batch_iter(msgs, false)
    }

    /// Waits for at least one message, then moves up to `max` messages that are there into
    /// `buf` (appended, oldest first) without waiting further. Returns how many were moved.
    ///
    /// A run of messages is claimed with one atomic step where the flavour allows it, which is
    /// what makes draining a busy queue this way cheaper than one `recv` per message. Returns
    /// [`RecvError`] once the queue is closed and drained; `Ok(0)` only when `max` is 0.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send_batch(1..=5).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(q.recv_batch(&mut buf, 3), Ok(3));
    /// assert_eq!(q.recv_batch(&mut buf, 3), Ok(2));
    /// assert_eq!(buf, [1, 2, 3, 4, 5]);
    /// q.close();
    /// assert_eq!(q.recv_batch(&mut buf, 3), Err(segmq::RecvError));
    /// ```
    pub fn recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, RecvError> {
        self.chan
            .recv_batch_blocking(buf, max, None)
            .map_err(|_| RecvError)
    }

    /// Moves up to `max` messages that are there now into `buf` (appended, oldest first),
    /// without waiting. Returns how many were moved (at least one, or `Ok(0)` when `max` is 0).
    ///
    /// ```
    /// use segmq::{Queue, TryRecvError};
    /// let q = Queue::bounded(8);
    /// let mut buf = Vec::new();
    /// assert_eq!(q.try_recv_batch(&mut buf, 4), Err(TryRecvError::Empty));
    /// q.send_batch(['a', 'b']).unwrap();
    /// assert_eq!(q.try_recv_batch(&mut buf, 4), Ok(2));
    /// assert_eq!(buf, ['a', 'b']);
    /// ```
    pub fn try_recv_batch(&self, buf: &mut Vec<T>, max: usize) -> Result<usize, TryRecvError> {
        self.chan.try_recv_batch(buf, max)
    }

    /// The async [`recv_batch`](Queue::recv_batch): waits without blocking a thread for at
    /// least one message, then moves up to `max` into `buf`. Cancel-safe like
    /// [`recv_async`](Queue::recv_async): messages are only moved in the poll that completes.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send_batch([7, 8]).unwrap();
    /// let mut buf = Vec::new();
    /// assert_eq!(futures_executor::block_on(q.recv_batch_async(&mut buf, 16)), Ok(2));
    /// assert_eq!(buf, [7, 8]);
    /// ```
    pub fn recv_batch_async<'a>(&'a self, buf: &'a mut Vec<T>, max: usize) -> RecvBatch<'a, T> {
        RecvBatch::new(&self.chan, buf, max)
    }

    /// Receives the oldest message, blocking while the queue is empty.
    ///
    /// Returns [`RecvError`] once the queue is closed and every message has been received.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send(1).unwrap();
    /// q.close();
    /// assert_eq!(q.recv(), Ok(1));
    /// assert_eq!(q.recv(), Err(segmq::RecvError));
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        match self.chan.recv_blocking(None) {
            Ok((_, msg)) => Ok(msg),
            Err(_) => Err(RecvError),
        }
    }

    /// Receives a message if one is there now.
    ///
    /// ```
    /// use segmq::{Queue, TryRecvError};
    /// let q = Queue::unbounded();
    /// assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    /// q.send(5).unwrap();
    /// assert_eq!(q.try_recv(), Ok(5));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_recv().map(|(_, msg)| msg)
    }

    /// Receives a message, blocking for at most `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Queue, RecvTimeoutError};
    /// let q = Queue::<u32>::unbounded();
    /// assert_eq!(q.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            // A timeout too far away to represent is no timeout.
            None => self.recv().map_err(RecvTimeoutError::from),
        }
    }

    /// Receives a message, blocking until `deadline` at the latest.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let q = segmq::Queue::unbounded();
    /// q.send(3).unwrap();
    /// assert_eq!(q.recv_deadline(Instant::now() + Duration::from_secs(1)), Ok(3));
    /// ```
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.chan.recv_blocking(Some(deadline)).map(|(_, msg)| msg)
    }

    /// Receives a message asynchronously.
    ///
    /// The future is **cancel-safe**: dropping it at any point neither loses a message (it
    /// holds none until it completes) nor strands a wake-up (a notification it received but did
    /// not use passes on to another waiting receiver).
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send(9).unwrap();
    /// assert_eq!(futures_executor::block_on(q.recv_async()), Ok(9));
    /// ```
    pub fn recv_async(&self) -> Recv<'_, T> {
        Recv::new(&self.chan)
    }

    /// A [`Stream`](futures_core::Stream) of messages that ends when the queue is closed and
    /// drained. It owns a handle, so it can be moved into a task.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// let q = segmq::Queue::unbounded();
    /// for i in 0..3 {
    ///     q.send(i).unwrap();
    /// }
    /// q.close();
    /// let all: Vec<i32> = futures_executor::block_on(q.stream().collect());
    /// assert_eq!(all, [0, 1, 2]);
    /// ```
    pub fn stream(&self) -> RecvStream<T> {
        RecvStream::new(self.clone())
    }

    /// A blocking iterator that ends when the queue is closed and drained.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send(1).unwrap();
    /// q.send(2).unwrap();
    /// q.close();
    /// assert_eq!(q.iter().collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter::new(&self.chan)
    }

    /// A non-blocking iterator over the messages that are there now.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send(1).unwrap();
    /// q.send(2).unwrap();
    /// assert_eq!(q.try_iter().collect::<Vec<_>>(), [1, 2]);
    /// assert_eq!(q.try_iter().next(), None); // the queue is still open, just empty
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter::new(&self.chan)
    }

    /// A non-blocking iterator over at most the messages that are in the queue now: unlike
    /// [`try_iter`](Queue::try_iter) it ends even if producers keep sending. Messages it does
    /// not take stay queued.
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send_batch([1, 2, 3]).unwrap();
    /// let mut drain = q.drain();
    /// assert_eq!(drain.next(), Some(1));
    /// q.send(4).unwrap(); // sent after the drain began: left for later
    /// assert_eq!(drain.collect::<Vec<_>>(), [2, 3]);
    /// assert_eq!(q.try_recv(), Ok(4));
    /// ```
    pub fn drain(&self) -> Drain<'_, T> {
        Drain::new(&self.chan)
    }

    /// Closes the queue: later sends fail and give their message back; receivers drain what was
    /// accepted, then get "closed". Wakes every waiting receiver (and sender).
    ///
    /// Returns `true` if this call closed the queue, `false` if it was already closed.
    ///
    /// ```
    /// let q = segmq::Queue::<()>::unbounded();
    /// assert!(q.close());
    /// assert!(!q.close());
    /// assert!(q.is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.chan.close()
    }

    /// Whether the queue is closed.
    ///
    /// ```
    /// let q = segmq::Queue::<()>::unbounded();
    /// assert!(!q.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.chan.flavor.is_closed()
    }

    /// Number of messages in the queue (a snapshot: other threads may change it at once).
    ///
    /// ```
    /// let q = segmq::Queue::unbounded();
    /// q.send('a').unwrap();
    /// assert_eq!(q.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.flavor.len()
    }

    /// Whether the queue holds no message (a snapshot).
    ///
    /// ```
    /// let q = segmq::Queue::<u8>::unbounded();
    /// assert!(q.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.chan.flavor.is_empty()
    }

    /// Whether a bounded queue has no free slot (a snapshot); always `false` when unbounded.
    ///
    /// ```
    /// let q = segmq::Queue::bounded(1);
    /// assert!(!q.is_full());
    /// q.send(1).unwrap();
    /// assert!(q.is_full());
    /// assert!(!segmq::Queue::<u8>::unbounded().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// How blocking calls on this queue wait for their counterpart (shared by every handle):
    /// spin up to [`WaitStrategy::DEFAULT_SPIN`](crate::WaitStrategy::DEFAULT_SPIN), then park, by default. See
    /// [`WaitStrategy`](crate::WaitStrategy).
    ///
    /// ```
    /// use segmq::WaitStrategy;
    /// let q = segmq::Queue::<u8>::unbounded();
    /// q.set_wait_strategy(WaitStrategy::BusySpin);
    /// assert_eq!(q.wait_strategy(), WaitStrategy::BusySpin);
    /// ```
    pub fn set_wait_strategy(&self, strategy: crate::WaitStrategy) {
        self.chan.wait.set(strategy);
    }

    /// The current [`WaitStrategy`](crate::WaitStrategy) of this queue.
    pub fn wait_strategy(&self) -> crate::WaitStrategy {
        self.chan.wait.get()
    }

    /// The capacity of a bounded queue, `None` for an unbounded one.
    ///
    /// ```
    /// assert_eq!(segmq::Queue::<u8>::unbounded().capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.chan.flavor.capacity()
    }

    /// Whether two handles refer to the same queue.
    ///
    /// ```
    /// let a = segmq::Queue::<u8>::unbounded();
    /// let b = a.clone();
    /// assert!(a.same_queue(&b));
    /// assert!(!a.same_queue(&segmq::Queue::unbounded()));
    /// ```
    pub fn same_queue(&self, other: &Queue<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

// Unwind safety (as crossbeam-channel, flume and std's mpsc): user code that can panic runs
// only outside the queue's critical steps (a message's `Drop` after it left its slot or during
// the last receiver's discard, a batch's iterator before any slot is claimed, a waker), and
// every step is one atomic operation that either happened or did not, so a handle observed
// after a caught panic shows a consistent queue: messages are received or still queued, never
// half-written. The `UnsafeCell` slots that would make the auto traits fail are only touched
// by the owner of a claim.
impl<T> std::panic::UnwindSafe for Queue<T> {}
impl<T> std::panic::RefUnwindSafe for Queue<T> {}
