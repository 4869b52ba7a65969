//! Per-message overrides at publish time: [`PublishOptions`] and [`Publisher::publish_with`].
//!
//! # Design
//!
//! The overrides travel with the message in `Envelope::extras` (`msg.rs`), one boxed option
//! that is `None` for a plain publish: a plain publish neither allocates nor writes more than
//! that one word. [`publish_with`](Publisher::publish_with) boxes the overrides only when
//! there is one to carry. They survive retries and come back with leftovers
//! ([`Publisher::drain_left`]); republishing a leftover with `publish` drops them.
//!
//! # Durable and remote queues
//!
//! The overrides are not part of a durable queue's log records nor of a remote queue's wire
//! format, so [`publish_with`](Publisher::publish_with) refuses them there with
//! [`PublishError::Unsupported`] (the data comes back) rather than forget them at a crash or
//! on another process. Empty options are accepted everywhere (a plain publish).

use std::fmt;
use std::time::Duration;

use super::msg::{Envelope, Extras};
use super::{PublishError, Publisher};

/// Overrides of one message: its handler timeout and its number of attempts.
///
/// ```
/// use std::time::Duration;
/// let o = segmq::PublishOptions::new().timeout(Duration::from_secs(5)).max_attempts(1);
/// assert!(!o.is_empty());
/// assert!(segmq::PublishOptions::new().is_empty());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "builder methods return the changed options; pass them to `Publisher::publish_with`"]
pub struct PublishOptions {
    timeout: Option<Duration>,
    max_attempts: Option<u32>,
}

impl fmt::Debug for PublishOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOptions")
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

impl PublishOptions {
    /// No override: the queue's settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handler timeout of each attempt of this message, instead of the queue's
    /// ([`QueueOptions::timeout`](crate::QueueOptions::timeout)); see there for what a timeout
    /// does. A zero timeout times every attempt out.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Attempts in all for this message (0 counts as 1), instead of the retry policy's
    /// [`max_attempts`](crate::RetryPolicy::max_attempts); the policy's delays still apply.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts.max(1));
        self
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Writes the options into the message's extras, keeping what is already there (the
    /// publisher's span, `observe.rs`).
    fn apply_to(self, extras: &mut Option<Box<Extras>>) {
        if self.is_empty() {
            return;
        }
        let e = extras.get_or_insert_with(Box::default);
        e.timeout = self.timeout;
        e.max_attempts = self.max_attempts;
    }
}

impl<T: Send + 'static> Publisher<T> {
    /// Publishes `data` with per-message overrides (timeout, attempts); otherwise as
    /// [`publish`](Self::publish) (waits for room on a bounded queue, `Closed(data)` after
    /// stop). Returns the message ID.
    ///
    /// The options stay with the message through its retries and come back with it as a
    /// leftover ([`drain_left`](Self::drain_left)).
    ///
    /// Durable and remote queues: the options are not written to a durable queue's log (its
    /// records hold the payload, and the attempt count) nor carried by a remote queue's wire
    /// format, so they would be forgotten at a crash or on another process. Non-empty options
    /// there fail with [`PublishError::Unsupported`], which names the queue and gives the data
    /// back; empty options are a plain publish.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{BoxError, Mq, Msg, PublishOptions, QueueOptions, RetryPolicy};
    ///
    /// let mq = Mq::new();
    /// let opts = QueueOptions::new(1).retry(RetryPolicy::fixed(5, Duration::ZERO));
    /// let p = mq.register_with("q", opts, |_: &Msg<u8>| Err::<(), BoxError>("down".into())).unwrap();
    /// p.publish(1).unwrap(); // 5 attempts
    /// p.publish_with(2, PublishOptions::new().max_attempts(2)).unwrap(); // 2 attempts
    /// mq.start().unwrap();
    /// mq.stop();
    /// let s = mq.stats("q").unwrap();
    /// assert_eq!((s.failed, s.dead_lettered), (5 + 2, 2));
    /// ```
    pub fn publish_with(&self, data: T, options: PublishOptions) -> Result<u64, PublishError<T>> {
        if options.is_empty() {
            return self.publish(data);
        }
        if let Some(what) = self.refuses_extras() {
            return Err(PublishError::Unsupported {
                data,
                queue: self.core.name,
                what: what.into(),
            });
        }
        let mut env = Envelope::fresh(data);
        options.apply_to(&mut env.extras);
        if self.core.drop_oldest {
            return match self.core.queue.chan.force_send(env) {
                Ok((id, displaced)) => {
                    if let Some((seq, old)) = displaced {
                        self.core.displaced(seq, old);
                    }
                    Ok(id)
                }
                Err(env) => Err(PublishError::Closed(env.data)),
            };
        }
        self.core
            .queue
            .chan
            .send_blocking(env, None)
            .map_err(|e| PublishError::Closed(e.into_inner().data))
    }

    /// Why this queue cannot carry per-message options, if it cannot.
    fn refuses_extras(&self) -> Option<&'static str> {
        #[cfg(feature = "nats")]
        if self.core.remote.is_some() {
            return Some("per-message options on a remote queue (not in its wire format)");
        }
        #[cfg(feature = "durable")]
        if self.core.durable.is_some() {
            return Some("per-message options on a durable queue (not in its log)");
        }
        None
    }
}

/// Attempts in all for `msg`: its own limit, else the queue's retry policy's.
#[inline]
pub(crate) fn max_attempts_of<T: Send + 'static>(
    core: &super::core::QueueCore<T>,
    msg: &super::Msg<T>,
) -> u32 {
    match &msg.extras {
        None => core.policy().max_attempts(),
        Some(x) => x
            .max_attempts
            .unwrap_or_else(|| core.policy().max_attempts()),
    }
}
