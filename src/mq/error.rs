//! Errors of the message queue: [`MqError`] for registry and lifecycle calls, [`PublishError`]
//! for refused messages (which always carry the data back).
//!
//! Like the queue errors, `Debug` never needs `T: Debug`.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

/// Why a registry or lifecycle call of [`Mq`](crate::Mq) failed.
///
/// ```
/// use segmq::{Mq, MqError};
/// let mq = Mq::new();
/// mq.register("jobs", 1, |_: &segmq::Msg<u32>| Ok::<_, MqError>(())).unwrap();
/// let again = mq.register("jobs", 1, |_: &segmq::Msg<u32>| Ok::<_, MqError>(()));
/// assert!(matches!(again, Err(MqError::DuplicateQueue(name)) if name == "jobs"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MqError {
    /// A queue with this name is already registered.
    DuplicateQueue(String),
    /// No queue has this name.
    UnknownQueue(String),
    /// The queue exists but carries another message type.
    TypeMismatch {
        /// The queue's name.
        queue: String,
        /// The message type the queue was registered with.
        expected: &'static str,
        /// The message type that was asked for.
        found: &'static str,
    },
    /// A queue needs at least one worker.
    InvalidConcurrency(String),
    /// A queue name was refused (it names threads and log lines): empty, or with a NUL byte.
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A worker thread of the queue could not be spawned (the OS refused: too many threads,
    /// not enough memory). The workers spawned before it keep running.
    Spawn {
        /// The queue's name.
        queue: String,
        /// The OS's error.
        reason: String,
    },
    /// [`Mq::start`](crate::Mq::start) was called on a running message queue.
    AlreadyRunning,
    /// The message queue has been stopped; it cannot be started or extended again.
    Stopped,
    /// The queue options ask for something this build cannot do yet (the queue's name and what).
    Unsupported {
        /// The queue's name.
        queue: String,
        /// What is not supported.
        what: &'static str,
    },
    /// A transport URL ([`Transport::from_url`](crate::Transport::from_url)) was refused: not
    /// `local` nor `nats://host:port`, or `nats://` in a build without the `nats` feature.
    Transport {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A durable queue's log could not be opened or recovered (disk error or damaged log;
    /// the error names the file).
    #[cfg(feature = "durable")]
    Storage(super::DurableError),
    /// A remote queue could not be set up (server unreachable, a stream with an incompatible
    /// configuration); the error names the queue and the server. Only with the `nats` feature.
    #[cfg(feature = "nats")]
    Remote(super::RemoteError),
}

impl fmt::Display for MqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateQueue(q) => write!(f, "mq: queue `{q}` is already registered"),
            Self::UnknownQueue(q) => write!(f, "mq: no queue named `{q}`"),
            Self::TypeMismatch {
                queue,
                expected,
                found,
            } => write!(f, "mq: queue `{queue}` carries `{expected}`, not `{found}`"),
            Self::InvalidConcurrency(q) => {
                write!(f, "mq: queue `{q}` needs a concurrency of at least 1")
            }
            Self::InvalidName { name, reason } => {
                write!(f, "mq: queue name {name:?} refused: {reason}")
            }
            Self::Spawn { queue, reason } => {
                write!(
                    f,
                    "mq: queue `{queue}`: cannot spawn a worker thread: {reason}"
                )
            }
            Self::AlreadyRunning => f.write_str("mq: already running"),
            Self::Stopped => f.write_str("mq: stopped"),
            Self::Unsupported { queue, what } => {
                write!(f, "mq: queue `{queue}`: {what} is not supported yet")
            }
            Self::Transport { url, reason } => {
                write!(f, "mq: transport URL {url:?} refused: {reason}")
            }
            #[cfg(feature = "durable")]
            Self::Storage(e) => write!(f, "mq: {e}"),
            #[cfg(feature = "nats")]
            Self::Remote(e) => write!(f, "{e}"),
        }
    }
}

impl Error for MqError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            #[cfg(feature = "durable")]
            Self::Storage(e) => Some(e),
            #[cfg(feature = "nats")]
            Self::Remote(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "durable")]
impl From<super::DurableError> for MqError {
    fn from(e: super::DurableError) -> Self {
        Self::Storage(e)
    }
}

/// Why a message was not published; the data comes back with [`into_inner`](Self::into_inner).
///
/// ```
/// use segmq::{Mq, Msg, PublishError};
/// let mq = Mq::new();
/// assert!(matches!(mq.publish("nowhere", 5u8), Err(PublishError::UnknownQueue(5))));
/// mq.register("bytes", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
/// let err = mq.publish("bytes", "not a byte").unwrap_err();
/// assert!(matches!(err, PublishError::TypeMismatch(_)));
/// assert_eq!(err.into_inner(), "not a byte");
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishError<T> {
    /// No queue has this name.
    UnknownQueue(T),
    /// The queue carries another message type.
    TypeMismatch(T),
    /// The queue is closed: the message queue was stopped.
    Closed(T),
    /// The queue is bounded and full.
    Full(T),
    /// The queue cannot take this publish as asked: per-message options
    /// ([`Publisher::publish_with`](crate::Publisher::publish_with)) or a delay
    /// ([`Publisher::publish_at`](crate::Publisher::publish_at)) on a durable or remote queue,
    /// or a delay past the clock's range.
    Unsupported {
        /// The data, not published.
        data: T,
        /// The queue's name.
        queue: &'static str,
        /// What it cannot do.
        what: Cow<'static, str>,
    },
    /// A durable queue could not log the message (disk error, or a payload the codec refused);
    /// the error names the file. Only with the `durable` feature.
    #[cfg(feature = "durable")]
    Storage(T, super::DurableError),
    /// A remote queue's server did not confirm the message (connection lost, timed out, a
    /// payload the codec refused); the error names the queue and the server. The message may
    /// or may not have been stored: publishing it again is safe within the server's dedup
    /// window only with the same message ID, so treat it as not published. Only with the
    /// `nats` feature.
    #[cfg(feature = "nats")]
    Remote(T, super::RemoteError),
}

impl<T> PublishError<T> {
    /// Gives back the data that was not published.
    pub fn into_inner(self) -> T {
        match self {
            Self::UnknownQueue(t) | Self::TypeMismatch(t) | Self::Closed(t) | Self::Full(t) => t,
            Self::Unsupported { data, .. } => data,
            #[cfg(feature = "durable")]
            Self::Storage(t, _) => t,
            #[cfg(feature = "nats")]
            Self::Remote(t, _) => t,
        }
    }

    /// Whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Closed(_))
    }

    /// Whether the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> PublishError<U> {
        match self {
            Self::UnknownQueue(t) => PublishError::UnknownQueue(f(t)),
            Self::TypeMismatch(t) => PublishError::TypeMismatch(f(t)),
            Self::Closed(t) => PublishError::Closed(f(t)),
            Self::Full(t) => PublishError::Full(f(t)),
            Self::Unsupported { data, queue, what } => PublishError::Unsupported {
                data: f(data),
                queue,
                what,
            },
            #[cfg(feature = "durable")]
            Self::Storage(t, e) => PublishError::Storage(f(t), e),
            #[cfg(feature = "nats")]
            Self::Remote(t, e) => PublishError::Remote(f(t), e),
        }
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "durable")]
        if let Self::Storage(_, e) = self {
            return f.debug_tuple("Storage").field(&"..").field(e).finish();
        }
        #[cfg(feature = "nats")]
        if let Self::Remote(_, e) = self {
            return f.debug_tuple("Remote").field(&"..").field(e).finish();
        }
        if let Self::Unsupported { queue, what, .. } = self {
            return f
                .debug_struct("Unsupported")
                .field("queue", queue)
                .field("what", what)
                .finish_non_exhaustive();
        }
        f.write_str(match self {
            Self::UnknownQueue(_) => "UnknownQueue(..)",
            Self::TypeMismatch(_) => "TypeMismatch(..)",
            Self::Closed(_) => "Closed(..)",
            Self::Full(_) => "Full(..)",
            Self::Unsupported { .. } => "Unsupported(..)",
            #[cfg(feature = "durable")]
            Self::Storage(..) => "Storage(..)",
            #[cfg(feature = "nats")]
            Self::Remote(..) => "Remote(..)",
        })
    }
}

impl<T> fmt::Display for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "durable")]
        if let Self::Storage(_, e) = self {
            return write!(f, "mq: publishing to a durable queue: {e}");
        }
        #[cfg(feature = "nats")]
        if let Self::Remote(_, e) = self {
            return write!(f, "mq: publishing to a remote queue: {e}");
        }
        if let Self::Unsupported { queue, what, .. } = self {
            return write!(f, "mq: queue `{queue}`: {what} is not supported");
        }
        f.write_str(match self {
            Self::UnknownQueue(_) => "mq: publishing to an unknown queue",
            Self::TypeMismatch(_) => "mq: publishing a message of the wrong type",
            Self::Closed(_) => "mq: publishing to a stopped queue",
            Self::Full(_) => "mq: publishing to a full queue",
            Self::Unsupported { .. } => "mq: unsupported publish",
            #[cfg(feature = "durable")]
            Self::Storage(..) => "mq: publishing to a durable queue: storage error",
            #[cfg(feature = "nats")]
            Self::Remote(..) => "mq: publishing to a remote queue: server error",
        })
    }
}

impl<T> Error for PublishError<T> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            #[cfg(feature = "durable")]
            Self::Storage(_, e) => Some(e),
            #[cfg(feature = "nats")]
            Self::Remote(_, e) => Some(e),
            _ => None,
        }
    }
}
