//! Remote queues: the same [`Mq`](crate::Mq), [`Publisher`](crate::Publisher), retry policy,
//! dead letters, stats and handlers, with the queue itself kept by a NATS JetStream server and
//! shared by every process that registers the same name.
//!
//! Selected by configuration: [`Transport::from_url`] takes `local` (the in-process queue) or
//! `nats://host:port`, and [`QueueOptions::transport`](crate::QueueOptions::transport) puts a
//! queue on it. A build without the `nats` feature has only the `local` transport, and refuses
//! a `nats://` URL with [`MqError::Transport`].
//!
//! # Mapping (feature `nats`)
//!
//! * messages travel postcard-encoded, or as JSON with [`Transport::json`] (readable by
//!   services in other languages).
//! * queue `name` -> stream `SEGMQ_<name>` (work-queue retention, file storage), subject
//!   `segmq.<name>`, one durable pull consumer `<name>` shared by every process. A name may
//!   hold only ASCII letters, digits, `-` and `_`.
//! * `publish` -> a JetStream publish awaiting the server's ack; the ID is the stream sequence
//!   (1, 2, 3, ...). Each publish carries a `Nats-Msg-Id`, so a publish the client re-sends is
//!   not stored twice (within the server's dedup window, 2 min by default).
//! * `capacity(n)` -> the stream's `max_msgs = n` with `discard: new`: a full stream gives
//!   [`PublishError::Full`](crate::PublishError::Full) to `try_publish`; `publish` waits for room.
//!   The bound counts every message the server holds for the queue, in flight or waiting for a
//!   retry included.
//! * `attempt()` -> the server's delivery count (it survives crashes of consumers).
//! * a failed attempt with attempts left -> a NAK with the policy's delay (never a plain NAK,
//!   which the server redelivers at once); the last failed attempt -> the dead-letter handler,
//!   then `Term` (the server forgets the message). The count also includes deliveries that
//!   never reached a decision (handed back at a stop, or lost with a consumer that died): a
//!   delivery past `max_attempts` runs as a last attempt, and one more than 5 past it is
//!   dead-lettered without running (it keeps killing its consumers). A payload that cannot
//!   be decoded is logged, counted as dead-lettered and terminated.
//! * a handler that runs long sends in-progress acks every `ack_wait / 3`, so the server does not
//!   redeliver it while it runs.
//! * `stop()` stops pulling, lets the running handlers finish and acks them, and hands the
//!   messages this process had fetched but not started back to the server (a NAK without
//!   delay: another process takes them). Messages still on the server are not drained: the
//!   queue is shared. [`Publisher::drain_left`](crate::Publisher::drain_left) is empty for a
//!   remote queue.
//!
//! # Design
//!
//! `QueueCore` holds `Option<Remote<T>>` (`queue.rs`): `Publisher::publish` takes one branch on
//! it before the local push, so a local queue pays one predictable branch and nothing else.
//! The queue's local `Queue` stays empty; its closed flag is the stop signal. Per process, one
//! pull task (`worker.rs`) asks the server for at most `concurrency` messages at a time and
//! hands them to `concurrency` worker threads through a bounded hand-off queue; the workers run
//! the same handler call and retry decision (`decision.rs`) as local workers and answer the
//! server (ack, NAK with delay, term). The client runs on a small tokio runtime owned by the
//! connection (`link.rs`); the blocking API waits on it from the caller's thread.

use std::fmt;

use super::MqError;

#[cfg(feature = "nats")]
mod answers;
#[cfg(feature = "nats")]
mod error;
#[cfg(feature = "nats")]
mod link;
#[cfg(feature = "nats")]
mod queue;
#[cfg(feature = "nats")]
mod register;
#[cfg(feature = "nats")]
mod spec;
#[cfg(feature = "nats")]
mod worker;

#[cfg(feature = "nats")]
pub use error::RemoteError;
#[cfg(feature = "nats")]
pub(crate) use queue::Remote;
#[cfg(feature = "nats")]
pub(crate) use register::attach;
#[cfg(all(feature = "nats", feature = "durable"))]
pub(crate) use register::refuse_durable;
#[cfg(feature = "nats")]
pub use register::RemoteStats;
#[cfg(feature = "nats")]
pub(crate) use spec::RemoteSpec;
#[cfg(feature = "nats")]
pub(crate) use worker::spawn_workers;

/// Where a queue lives: in this process (`local`), or on a NATS JetStream server
/// (`nats://host:port`, feature `nats`). Read it from configuration:
///
/// ```
/// use segmq::{MqError, Transport};
/// let url = std::env::var("SEGMQ_URL").unwrap_or_else(|_| "local".into());
/// let transport = Transport::from_url(&url).unwrap();
/// # let _ = transport;
/// assert!(Transport::from_url("local").unwrap().is_local());
/// assert!(matches!(Transport::from_url("amqp://x"), Err(MqError::Transport { .. })));
/// ```
///
/// Cloning is cheap; every queue given clones of one `Transport` shares one connection.
#[derive(Clone)]
pub struct Transport {
    pub(crate) kind: Kind,
}

#[derive(Clone)]
pub(crate) enum Kind {
    Local,
    #[cfg(feature = "nats")]
    Nats(spec::NatsTransport),
}

impl Transport {
    /// The in-process queue (the default).
    pub fn local() -> Self {
        Self { kind: Kind::Local }
    }

    /// Parses `local` or `nats://host:port` (surrounding whitespace ignored). Nothing connects
    /// yet: the first queue registered on a NATS transport connects, and an unreachable server
    /// is an error of that registration.
    ///
    /// Errors ([`MqError::Transport`]): any other URL, and a `nats://` URL in a build without
    /// the `nats` feature.
    ///
    /// ```
    /// use segmq::Transport;
    /// let t = Transport::from_url(" local ").unwrap();
    /// assert!(t.is_local());
    /// # #[cfg(not(feature = "nats"))]
    /// assert!(Transport::from_url("nats://127.0.0.1:4222").is_err());
    /// ```
    pub fn from_url(url: &str) -> Result<Self, MqError> {
        let url = url.trim();
        if url == "local" {
            return Ok(Self::local());
        }
        let refuse = |reason| MqError::Transport {
            url: url.to_owned(),
            reason,
        };
        match url.strip_prefix("nats://") {
            None => Err(refuse("expected `local` or `nats://host:port`")),
            Some(rest) if rest.is_empty() || rest.contains(char::is_whitespace) => {
                Err(refuse("a nats:// URL needs a host (nats://host:port)"))
            }
            #[cfg(feature = "nats")]
            Some(_) => Ok(Self {
                kind: Kind::Nats(spec::NatsTransport::new(url)),
            }),
            #[cfg(not(feature = "nats"))]
            Some(_) => Err(refuse(
                "this build of segmq has no NATS support (enable its `nats` feature)",
            )),
        }
    }

    /// Whether queues on this transport stay in this process.
    pub fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Local)
    }
}

impl Default for Transport {
    fn default() -> Self {
        Self::local()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Local => f.write_str("Transport(local)"),
            #[cfg(feature = "nats")]
            Kind::Nats(n) => fmt::Debug::fmt(n, f),
        }
    }
}

/// Without the `nats` feature the only transport is `local`: nothing to configure.
#[cfg(not(feature = "nats"))]
impl<T> super::QueueOptions<T> {
    /// Puts the queue on `transport`. In this build (no `nats` feature) every transport is
    /// `local`, so this changes nothing; with the feature it needs `T: Serialize +
    /// DeserializeOwned` (the messages travel encoded).
    ///
    /// ```
    /// let o = segmq::QueueOptions::<u8>::new(1).transport(&segmq::Transport::local());
    /// # drop(o);
    /// ```
    pub fn transport(self, transport: &Transport) -> Self {
        match transport.kind {
            Kind::Local => self,
        }
    }
}
