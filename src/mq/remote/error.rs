//! [`RemoteError`]: what went wrong with a remote queue's server, naming the queue and the
//! server.

use std::error::Error;
use std::fmt;

/// A remote queue's server refused or did not answer; names the queue and the server.
///
/// ```no_run
/// use segmq::{Mq, MqError, Msg, QueueOptions, Transport};
/// let t = Transport::from_url("nats://127.0.0.1:1").unwrap(); // nothing listens there
/// let mq = Mq::new();
/// let err = mq
///     .register_with("jobs", QueueOptions::new(1).transport(&t), |_: &Msg<u32>| Ok::<_, MqError>(()))
///     .unwrap_err();
/// let MqError::Remote(e) = err else { panic!() };
/// assert_eq!((e.queue(), e.server()), ("jobs", "nats://127.0.0.1:1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    queue: String,
    server: String,
    what: String,
    full: bool,
    timed_out: bool,
}

impl RemoteError {
    pub(crate) fn new(queue: &str, server: &str, what: impl fmt::Display) -> Self {
        Self {
            queue: queue.to_owned(),
            server: server.to_owned(),
            what: what.to_string(),
            full: false,
            timed_out: false,
        }
    }

    pub(crate) fn with_flags(mut self, full: bool, timed_out: bool) -> Self {
        self.full = full;
        self.timed_out = timed_out;
        self
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The server's URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// What failed, as the client or the server said it.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Whether the server did not answer in time (it may be down; the client reconnects on its
    /// own).
    pub fn is_timeout(&self) -> bool {
        self.timed_out
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mq: queue `{}` on {}: {}",
            self.queue, self.server, self.what
        )
    }
}

impl Error for RemoteError {}
