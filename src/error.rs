//! Error types of the queue operations.
//!
//! Every error that stands for a refused message carries the message back (`into_inner`), so a
//! send never loses data. `Debug` never requires `T: Debug` (it prints `SendError(..)`), so the
//! errors work with `?` and `unwrap` for any `T`.
#![forbid(unsafe_code)]

use std::error::Error;
use std::fmt;

/// The queue was closed: the message was not accepted and is given back.
///
/// ```
/// let q = segmq::Queue::unbounded();
/// q.close();
/// let err = q.send(7).unwrap_err();
/// assert_eq!(err.into_inner(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// Gives back the message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Why [`Queue::try_send`](crate::Queue::try_send) did not accept a message; the message is given back.
///
/// ```
/// use segmq::{Queue, TrySendError};
/// let q = Queue::unbounded();
/// q.close();
/// assert_eq!(q.try_send(1), Err(TrySendError::Closed(1)));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The queue is bounded and full.
    Full(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// Gives back the message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::Closed(t) => t,
        }
    }
    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> Self {
        Self::Closed(err.0)
    }
}

/// Why a send with a time limit did not accept a message; the message is given back.
///
/// ```
/// use segmq::SendTimeoutError;
/// let err = SendTimeoutError::Timeout(3);
/// assert!(err.is_timeout());
/// assert_eq!(err.into_inner(), 3);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SendTimeoutError<T> {
    /// The queue stayed full until the deadline.
    Timeout(T),
    /// The queue is closed.
    Closed(T),
}

impl<T> SendTimeoutError<T> {
    /// Gives back the message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(t) | Self::Closed(t) => t,
        }
    }
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }
    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        Self::Closed(err.0)
    }
}

/// Why a batch send stopped before the end: the queue was closed, or (for
/// [`try_send_batch`](crate::Queue::try_send_batch)) full. The messages that were not accepted
/// come back, in order; those before them were accepted.
///
/// ```
/// use segmq::Queue;
/// let q = Queue::bounded(2);
/// let err = q.try_send_batch([1, 2, 3, 4]).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.accepted(), 2);
/// assert_eq!(err.into_rest(), [3, 4]);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendBatchError<T> {
    accepted: usize,
    rest: Vec<T>,
    full: bool,
}

impl<T> SendBatchError<T> {
    pub(crate) fn new(accepted: usize, rest: Vec<T>, full: bool) -> Self {
        Self {
            accepted,
            rest,
            full,
        }
    }
    /// How many messages of the batch were accepted (the first ones, in order).
    pub fn accepted(&self) -> usize {
        self.accepted
    }
    /// The messages that were not accepted, in batch order.
    pub fn rest(&self) -> &[T] {
        &self.rest
    }
    /// Gives back the messages that were not accepted, in batch order.
    pub fn into_rest(self) -> Vec<T> {
        self.rest
    }
    /// Whether the queue was full (only [`try_send_batch`](crate::Queue::try_send_batch)).
    pub fn is_full(&self) -> bool {
        self.full
    }
    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        !self.full
    }
}

/// The queue is closed and every accepted message has been received.
///
/// ```
/// let q = segmq::Queue::<u8>::unbounded();
/// q.close();
/// assert_eq!(q.recv(), Err(segmq::RecvError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecvError;

/// Why [`Queue::try_recv`](crate::Queue::try_recv) returned no message.
///
/// ```
/// use segmq::{Queue, TryRecvError};
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
/// q.close();
/// assert_eq!(q.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryRecvError {
    /// No message right now; the queue is open.
    Empty,
    /// The queue is closed and drained.
    Closed,
}

impl TryRecvError {
    /// Whether the queue was empty (and open).
    pub fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }
    /// Whether the queue was closed and drained.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        Self::Closed
    }
}

/// Why a receive with a time limit returned no message.
///
/// ```
/// use std::time::Duration;
/// use segmq::{Queue, RecvTimeoutError};
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvTimeoutError {
    /// No message arrived before the deadline.
    Timeout,
    /// The queue is closed and drained.
    Closed,
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }
    /// Whether the queue was closed and drained.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed)
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        Self::Closed
    }
}

macro_rules! debug_without_payload {
    ($ty:ident { $($variant:ident),* }) => {
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                }
            }
        }
    };
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}
debug_without_payload!(TrySendError { Full, Closed });
debug_without_payload!(SendTimeoutError { Timeout, Closed });

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a closed queue")
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "sending on a full queue",
            Self::Closed(_) => "sending on a closed queue",
        })
    }
}

impl<T> fmt::Display for SendTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout(_) => "timed out waiting for room in the queue",
            Self::Closed(_) => "sending on a closed queue",
        })
    }
}

impl<T> fmt::Debug for SendBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendBatchError")
            .field("reason", &if self.full { "Full" } else { "Closed" })
            .field("accepted", &self.accepted)
            .field("rejected", &self.rest.len())
            .finish()
    }
}

impl<T> fmt::Display for SendBatchError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sending a batch on a {} queue: {} accepted, {} given back",
            if self.full { "full" } else { "closed" },
            self.accepted,
            self.rest.len()
        )
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("receiving on a closed and empty queue")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "receiving on an empty queue",
            Self::Closed => "receiving on a closed and empty queue",
        })
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out waiting for a message",
            Self::Closed => "receiving on a closed and empty queue",
        })
    }
}

impl<T> Error for SendError<T> {}
impl<T> Error for TrySendError<T> {}
impl<T> Error for SendTimeoutError<T> {}
impl<T> Error for SendBatchError<T> {}
impl Error for RecvError {}
impl Error for TryRecvError {}
impl Error for RecvTimeoutError {}

#[cfg(test)]
mod tests {
    use super::*;

    struct NotDebug;

    #[test]
    fn debug_and_display_do_not_need_t_debug() {
        assert_eq!(format!("{:?}", SendError(NotDebug)), "SendError(..)");
        assert_eq!(format!("{:?}", TrySendError::Full(NotDebug)), "Full(..)");
        assert_eq!(
            format!("{:?}", SendTimeoutError::Closed(NotDebug)),
            "Closed(..)"
        );
        assert_eq!(
            TrySendError::Full(NotDebug).to_string(),
            "sending on a full queue"
        );
        let batch = SendBatchError::new(2, vec![NotDebug], false);
        assert_eq!(
            format!("{batch:?}"),
            "SendBatchError { reason: \"Closed\", accepted: 2, rejected: 1 }"
        );
        assert_eq!(
            batch.to_string(),
            "sending a batch on a closed queue: 2 accepted, 1 given back"
        );
        let boxed: Box<dyn Error + Send + Sync> = Box::new(SendError(1u8));
        assert_eq!(boxed.to_string(), "sending on a closed queue");
    }

    #[test]
    fn conversions_keep_the_message() {
        assert_eq!(TrySendError::from(SendError(5)), TrySendError::Closed(5));
        assert_eq!(SendTimeoutError::from(SendError(5)).into_inner(), 5);
        assert_eq!(TryRecvError::from(RecvError), TryRecvError::Closed);
        assert_eq!(RecvTimeoutError::from(RecvError), RecvTimeoutError::Closed);
    }
}
