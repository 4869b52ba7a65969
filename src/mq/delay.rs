//! Delayed and scheduled publish: [`Publisher::publish_in`], [`Publisher::publish_at`] (and
//! [`Mq::publish_in`], [`Mq::publish_at`] by name).
//!
//! # Design
//!
//! A delayed message waits in the `Mq`'s retry timer (`retry.rs`), the one timer there is: a
//! binary heap ordered by due time under a mutex, and one thread that sleeps until the earliest
//! due time and then pushes what is due into its queue. So there is no thread per message,
//! scheduling is `O(log n)` in the pending messages (100 000 pending cost a heap of 100 000
//! entries, no scan), and a message is pushed at most the timer thread's wake-up latency after
//! it is due. Undelayed messages never meet the timer: they are pushed at once, and a due
//! message joins the queue's tail like any publish (so it is handled once the workers reach it:
//! "no earlier than asked", and no later than the timer's resolution plus the queue's backlog).
//!
//! # IDs
//!
//! A queue slot, and with it the usual ID (`msg.rs`), exists only once the message is pushed,
//! which is later. A delayed message therefore gets its ID at publish from a second per-queue
//! counter, offset by [`DELAYED_ID_BASE`] (2^63): `DELAYED_ID_BASE + 0, + 1, ...` in publish
//! order. Slot IDs stay below 2^43, so the two ranges never meet: an ID is unique per queue (for
//! the slot range, within its wrap period) and says how the message was published. It is kept
//! across retries, like any ID.
//!
//! # Stop
//!
//! At stop the timer is flushed under its lock (`retry.rs`, "Stop"): a delayed message that is
//! due by then is pushed into its queue and handled like any queued message; one that is not
//! yet due is *not* waited for (a job due tomorrow must not hold a shutdown) but handed back at
//! once as a leftover ([`Publisher::drain_left`]), with its ID, counted in `left` and not as a
//! timeout. A delayed publish after the stop began is refused with `Closed(data)`.
//!
//! # Accounting
//!
//! A delayed message is counted in `published` from its publish on; until it is due it is in
//! [`QueueStats::delayed`](crate::QueueStats::delayed) (and [`QueueReport::delayed`]), then in
//! the queue (`depth`) like any other: `published == handled_ok + dead_lettered + displaced +
//! left + in_flight + depth + delayed + lost`.
//!
//! # Not supported
//!
//! * Durable queues: the log's format (`durable/format.rs`) has no field for a due time, and a
//!   delayed message kept only in memory would not survive a crash as the queue promises. So
//!   it is refused with [`PublishError::Unsupported`] until the format carries one.
//! * Remote (NATS) queues: refused the same way (JetStream has no per-message delay the queue
//!   could use without a scheduler of its own).

use std::sync::atomic::AtomicU64 as StatCounter;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::core::QueueCore;
use super::msg::Envelope;
use super::retry::Pending;
use super::{Mq, PublishError, Publisher};
use crate::sync::{AtomicU64, Ordering};
use crate::TrySendError;

#[allow(unused_imports)] // for the docs
use super::QueueReport;

/// The first ID of delayed messages (2^63): a message published with
/// [`Publisher::publish_in`] or [`Publisher::publish_at`] gets `DELAYED_ID_BASE + n`, `n` = 0,
/// 1, 2, ... per queue in publish order, disjoint from the IDs of other publishes (below 2^43).
///
/// ```
/// use std::time::Duration;
/// use segmq::{Mq, Msg, DELAYED_ID_BASE};
/// let mq = Mq::new();
/// let p = mq.register("q", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
/// assert_eq!(p.publish(1).unwrap(), 0);
/// assert_eq!(p.publish_in(Duration::from_secs(60), 2).unwrap(), DELAYED_ID_BASE);
/// assert_eq!(p.publish_in(Duration::from_secs(60), 3).unwrap(), DELAYED_ID_BASE + 1);
/// mq.stop(); // never started: all three are handed back
/// assert_eq!(p.drain_left().len(), 3);
/// ```
pub const DELAYED_ID_BASE: u64 = 1 << 63;

/// A queue's delayed-publish state.
#[derive(Debug, Default)]
pub(crate) struct Delays {
    /// The next delayed ID, minus `DELAYED_ID_BASE`.
    next_id: AtomicU64,
    /// Delayed messages in the timer now (a gauge for the stats; std atomic as in `stats.rs`).
    pending: StatCounter,
    /// Delayed messages handed back at stop before they were due (leftovers that are not a
    /// timeout).
    handed_back: StatCounter,
}

impl Delays {
    /// Delayed messages waiting in the timer.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Relaxed)
    }

    /// Delayed messages handed back at stop before they were due.
    pub(crate) fn handed_back(&self) -> u64 {
        self.handed_back.load(Relaxed)
    }
}

/// Why a queue cannot take delayed messages, if it cannot.
fn refusal<T>(core: &QueueCore<T>) -> Option<&'static str> {
    #[cfg(feature = "nats")]
    if core.remote.is_some() {
        return Some("a delayed publish on a remote (NATS) queue");
    }
    #[cfg(feature = "durable")]
    if core.durable.is_some() {
        return Some(
            "a delayed publish on a durable queue (the log has no field for a due time, so the \
             message would not survive a crash)",
        );
    }
    let _ = core;
    None
}

impl<T: Send + 'static> Publisher<T> {
    /// Publishes `data` to be handled no earlier than `delay` from now; returns its ID
    /// ([`DELAYED_ID_BASE`] + n). See [`publish_at`](Self::publish_at).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let asked = Instant::now() + Duration::from_millis(20);
    /// let p = mq
    ///     .register("later", 1, move |_: &Msg<&str>| {
    ///         assert!(Instant::now() >= asked);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// mq.start().unwrap();
    /// p.publish_in(Duration::from_millis(20), "re-check").unwrap();
    /// while p.stats().handled_ok == 0 {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// mq.stop();
    /// ```
    pub fn publish_in(&self, delay: Duration, data: T) -> Result<u64, PublishError<T>> {
        match Instant::now().checked_add(delay) {
            Some(at) => self.publish_at(at, data),
            None => Err(PublishError::Unsupported {
                data,
                queue: self.core.name,
                what: format!("a delay of {delay:?} (past the clock's range)").into(),
            }),
        }
    }

    /// Publishes `data` to be handled no earlier than `at`; returns its ID: a delayed ID
    /// (see [`DELAYED_ID_BASE`]), or, for an `at` that has already passed, the ID of a plain
    /// [`publish`](Self::publish), which it then is.
    ///
    /// The message waits in the `Mq`'s timer (no thread per message; scheduling is
    /// `O(log n)`), then joins the queue's tail when it is due, so it starts once it is due
    /// *and* the workers reach it. Messages published without a delay are never held behind
    /// delayed ones. On a bounded queue a due message waits in the timer for room, as a retry
    /// does; on a drop-oldest queue it displaces the oldest one.
    ///
    /// At stop, delayed messages that are due are handled; the others are not waited for:
    /// they are handed back at once through [`drain_left`](Self::drain_left) (see the
    /// `QueueReport`'s `left`). Errors: `Closed(data)` once the stop began;
    /// [`PublishError::Unsupported`] on a durable queue (the log cannot carry a due time yet,
    /// so the message would not survive a crash) and on a remote (NATS) queue.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::{Duration, Instant};
    /// use segmq::{Mq, Msg};
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let seen = order.clone();
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register("timed", 1, move |m: &Msg<u32>| {
    ///         seen.lock().unwrap().push(m.data);
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// mq.start().unwrap();
    /// let now = Instant::now();
    /// p.publish_at(now + Duration::from_millis(30), 3).unwrap();
    /// p.publish_at(now + Duration::from_millis(10), 2).unwrap();
    /// p.publish(1).unwrap(); // not held behind the delayed ones
    /// while p.stats().handled_ok < 3 {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// mq.stop();
    /// assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
    /// ```
    pub fn publish_at(&self, at: Instant, data: T) -> Result<u64, PublishError<T>> {
        if let Some(what) = refusal(&self.core) {
            return Err(PublishError::Unsupported {
                data,
                queue: self.core.name,
                what: what.into(),
            });
        }
        if at <= Instant::now() {
            return self.publish(data);
        }
        let core = &self.core;
        // Relaxed: only the uniqueness of the number matters (the RMW gives it); it orders
        // nothing.
        let id = DELAYED_ID_BASE + core.delays.next_id.fetch_add(1, Ordering::Relaxed);
        let mut env = Envelope::fresh(data);
        env.id = id;
        // `Msg::enqueued_at` of a delayed message is its due time (`msg.rs`): the queue-wait
        // statistics then measure from it, and a leftover can be published again for it.
        env.enqueued_at = at;
        // Counted before it is visible to the timer, so the gauge never goes below 0.
        core.delays.pending.fetch_add(1, Relaxed);
        let job = Delayed {
            core: core.clone(),
            env,
        };
        match core.timer().schedule(at, job, || core.is_stopping()) {
            Ok(()) => {
                core.metrics.published(&core.queue);
                Ok(id)
            }
            Err(job) => {
                core.delays.pending.fetch_sub(1, Relaxed);
                Err(PublishError::Closed(job.env.data))
            }
        }
    }
}

impl Mq {
    /// Publishes to a queue by name, to be handled no earlier than `delay` from now; see
    /// [`Publisher::publish_in`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg, PublishError, DELAYED_ID_BASE};
    /// let mq = Mq::new();
    /// mq.register("n", 1, |_: &Msg<u64>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(mq.publish_in("n", Duration::from_secs(1), 5u64).unwrap(), DELAYED_ID_BASE);
    /// assert!(matches!(mq.publish_in("m", Duration::ZERO, 5u64), Err(PublishError::UnknownQueue(5))));
    /// # mq.stop();
    /// ```
    pub fn publish_in<T: Send + 'static>(
        &self,
        name: &str,
        delay: Duration,
        data: T,
    ) -> Result<u64, PublishError<T>> {
        match self.publisher_or_refuse(name, data) {
            Ok((p, data)) => p.publish_in(delay, data),
            Err(e) => Err(e),
        }
    }

    /// Publishes to a queue by name, to be handled no earlier than `at`; see
    /// [`Publisher::publish_at`].
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use segmq::{Mq, Msg, PublishError};
    /// let mq = Mq::new();
    /// mq.register("n", 1, |_: &Msg<u64>| Ok::<_, std::io::Error>(())).unwrap();
    /// let at = Instant::now() + Duration::from_secs(1);
    /// assert!(matches!(mq.publish_at("n", at, 5i32), Err(PublishError::TypeMismatch(5))));
    /// # mq.stop();
    /// ```
    pub fn publish_at<T: Send + 'static>(
        &self,
        name: &str,
        at: Instant,
        data: T,
    ) -> Result<u64, PublishError<T>> {
        match self.publisher_or_refuse(name, data) {
            Ok((p, data)) => p.publish_at(at, data),
            Err(e) => Err(e),
        }
    }

    /// The queue's publisher, or the data back in the error `publish` by name gives.
    fn publisher_or_refuse<T: Send + 'static>(
        &self,
        name: &str,
        data: T,
    ) -> Result<(Publisher<T>, T), PublishError<T>> {
        match self.publisher::<T>(name) {
            Ok(p) => Ok((p, data)),
            Err(super::MqError::TypeMismatch { .. }) => Err(PublishError::TypeMismatch(data)),
            Err(_) => Err(PublishError::UnknownQueue(data)),
        }
    }
}

/// A delayed message waiting in the timer.
struct Delayed<T> {
    core: Arc<QueueCore<T>>,
    env: Envelope<T>,
}

impl<T: Send + 'static> Delayed<T> {
    /// Hands the message back as a leftover (stop before it was due, or nothing will run it):
    /// counted as drained from the queue, so that `published` stays exact.
    fn hand_back(self) {
        let Delayed { core, env } = self;
        core.delays.pending.fetch_sub(1, Relaxed);
        core.delays.handed_back.fetch_add(1, Relaxed);
        core.stats.drained.fetch_add(1, Relaxed);
        core.put_left(env.into_msg(0, core.name));
    }
}

impl<T: Send + 'static> Pending for Delayed<T> {
    /// Due (`not_before` is `None`, or at stop a time that has passed): pushed into the queue.
    /// At stop and not yet due: handed back.
    fn requeue(self: Box<Self>, not_before: Option<Instant>) -> Option<Box<dyn Pending>> {
        if not_before.is_some_and(|t| !super::clock::passed(t)) {
            self.hand_back();
            return None;
        }
        let Delayed { core, env } = *self;
        if core.drop_oldest {
            return match core.queue.chan.force_send(env) {
                Ok((_, displaced)) => {
                    core.delays.pending.fetch_sub(1, Relaxed);
                    if let Some((seq, old)) = displaced {
                        core.displaced(seq, old);
                    }
                    None
                }
                Err(env) => {
                    Delayed { core, env }.hand_back();
                    None
                }
            };
        }
        match core.queue.chan.try_send(env) {
            // Not counted as `requeued`: its pop is its first, as for a fresh publish.
            Ok(_) => {
                core.delays.pending.fetch_sub(1, Relaxed);
                None
            }
            Err(TrySendError::Full(env)) => Some(Box::new(Delayed { core, env })),
            Err(TrySendError::Closed(env)) => {
                // Cannot happen (queues close only after the timer is flushed), but never lose it.
                Delayed { core, env }.hand_back();
                None
            }
        }
    }

    fn park(self: Box<Self>, _not_before: Instant) {
        // Due (`requeue` handed back the others) but the queue was full at stop: run once the
        // queue is closed and empty, like a parked retry.
        let Delayed { core, env } = *self;
        core.delays.pending.fetch_sub(1, Relaxed);
        core.park_fresh(env);
    }

    fn give_up(self: Box<Self>) {
        self.hand_back();
    }
}
