//! [`Mq`]: the registry of named queues and the lifecycle (start, stop, stop with a deadline).
//!
//! # Read path
//!
//! The name -> queue map is an immutable `HashMap` behind an [`arc_swap::ArcSwap`]: writers
//! (register, rare) copy the map, insert and swap it in under a `Mutex`; readers ([`Mq::publish`],
//! [`Mq::publisher`], [`Mq::stats`]) load the current map without any lock and without writing a
//! shared cache line (arc-swap's loads use per-thread debt slots, where an `RwLock` read would
//! make every publisher bump the same lock word). Each entry is a type-erased queue whose
//! `Publisher<T>` is found by an `Any` downcast, so a wrong `T` is an error, never a panic.

use std::any::{type_name, Any};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::core::{check_name, lock, QueueCore};
use super::handler::Plain;
use super::retry::RetryTimer;
use super::stop::{queue_report, Caller, Lifecycle};
use super::worker::spawn_threads;
use super::{MqError, Msg, PublishError, Publisher, QueueOptions, QueueStats};
use crate::sync::{Condvar, Mutex};

/// One registered queue, with its message type erased.
pub(crate) trait ErasedQueue: Send + Sync {
    /// The queue's `Publisher<T>`, for downcasting.
    fn publisher_any(&self) -> &(dyn Any + Send + Sync);
    fn type_name(&self) -> &'static str;
    fn name(&self) -> &str;
    /// Spawns the queue's workers.
    fn start(&self) -> Result<(), MqError>;
    fn set_deadline(&self, deadline: Instant);
    fn mark_stopping(&self);
    fn close(&self);
    /// Moves what is queued or parked into the leftovers; returns how many.
    fn drain_to_left(&self) -> u64;
    fn wait_workers(&self, deadline: Option<Instant>) -> bool;
    fn join_exited(&self);
    fn detach(&self) -> usize;
    fn stats(&self) -> QueueStats;
    fn report(&self, all_exited: bool) -> QueueReport;
    /// Leftovers that may mean a timeout (all but the delayed messages handed back at stop).
    fn left_by_stop(&self) -> u64;
    /// For `stop_async`: `Ok` once every worker but the caller's own has exited.
    fn exited_or_listen(&self) -> Result<(), crate::sync::event::Listener>;
    /// Whether the queue's tasks run on a current-thread tokio runtime.
    #[cfg(feature = "tokio")]
    fn on_current_thread_runtime(&self) -> bool;
}

/// Spawns the workers of a queue (threads or tasks).
pub(crate) type Spawn<T> = Box<dyn Fn(&Arc<QueueCore<T>>) -> Result<(), MqError> + Send + Sync>;

struct Registered<T> {
    publisher: Publisher<T>,
    spawn: Spawn<T>,
}

impl<T: Send + 'static> ErasedQueue for Registered<T> {
    fn publisher_any(&self) -> &(dyn Any + Send + Sync) {
        &self.publisher
    }
    fn type_name(&self) -> &'static str {
        type_name::<T>()
    }
    fn name(&self) -> &str {
        self.publisher.core.name
    }
    fn start(&self) -> Result<(), MqError> {
        (self.spawn)(&self.publisher.core)
    }
    fn set_deadline(&self, deadline: Instant) {
        self.publisher.core.set_deadline(deadline);
    }
    fn mark_stopping(&self) {
        self.publisher.core.mark_stopping();
    }
    fn close(&self) {
        self.publisher.core.queue.close();
    }
    fn drain_to_left(&self) -> u64 {
        self.publisher.core.drain_to_left()
    }
    fn wait_workers(&self, deadline: Option<Instant>) -> bool {
        self.publisher.core.wait_workers(deadline)
    }
    fn join_exited(&self) {
        self.publisher.core.join_exited();
    }
    fn detach(&self) -> usize {
        self.publisher.core.detach()
    }
    fn stats(&self) -> QueueStats {
        self.publisher.core.stats()
    }
    fn exited_or_listen(&self) -> Result<(), crate::sync::event::Listener> {
        self.publisher.core.exited_or_listen()
    }
    fn left_by_stop(&self) -> u64 {
        self.publisher.core.left_by_stop()
    }
    #[cfg(feature = "tokio")]
    fn on_current_thread_runtime(&self) -> bool {
        let runtime = self.publisher.core.runtime.get();
        runtime.is_some_and(|r| r.current_thread)
    }
    fn report(&self, all_exited: bool) -> QueueReport {
        let core = &self.publisher.core;
        let lost = core.stats.lost.load(std::sync::atomic::Ordering::Relaxed);
        queue_report(
            core.name,
            &core.snapshot(),
            lost,
            core.own_workers(),
            all_exited,
        )
    }
}

type Map = HashMap<Arc<str>, Arc<dyn ErasedQueue>>;

/// Test hooks: a gate inside a registration's unlocked part (`registry_tests.rs`).
#[cfg(all(test, feature = "durable"))]
pub(crate) mod hooks {
    use std::cell::RefCell;

    thread_local! {
        /// Run (on the registering thread) just before a durable log is opened.
        pub(crate) static BEFORE_RECOVERY: RefCell<Option<Box<dyn FnMut()>>> =
            const { RefCell::new(None) };
    }

    pub(crate) fn before_recovery() {
        BEFORE_RECOVERY.with(|hook| {
            if let Some(f) = hook.borrow_mut().as_mut() {
                f();
            }
        });
    }
}

pub(crate) struct Registry {
    /// Idle, running, stopping, stopped (`stop.rs`).
    pub(crate) life: Lifecycle,
    /// In registration order (for start, stop and reports).
    pub(crate) queues: Vec<Arc<dyn ErasedQueue>>,
    /// Names whose registration is under way outside the lock (see `register_erased`).
    pub(crate) reserved: Vec<String>,
}

/// What [`Mq::stop_timeout`] (or [`Mq::stop`]) saw.
///
/// ```
/// use std::time::Duration;
/// use segmq::{Mq, Msg};
/// let mq = Mq::new();
/// let p = mq.register("q", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
/// p.publish(1).unwrap();
/// mq.start().unwrap();
/// let report = mq.stop_timeout(Duration::from_secs(5));
/// assert!(!report.timed_out);
/// assert_eq!((report.handled(), report.left()), (1, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StopReport {
    /// Whether the deadline passed before every message was handled (some workers were still
    /// busy, or messages were put aside as leftovers).
    pub timed_out: bool,
    /// One entry per queue, in registration order.
    pub queues: Vec<QueueReport>,
}

impl StopReport {
    /// Messages handled (ok or dead-lettered) over the `Mq`'s life, all queues.
    pub fn handled(&self) -> u64 {
        self.queues
            .iter()
            .map(|q| q.handled_ok + q.dead_lettered)
            .sum()
    }

    /// Messages left unhandled, all queues: take them back with
    /// [`Publisher::drain_left`].
    pub fn left(&self) -> u64 {
        self.queues.iter().map(|q| q.left).sum()
    }

    /// Messages lost, all queues: dropped with a worker that died in a way no guard could
    /// catch (an async queue's runtime shut down under it, a bug in segmq). Should be 0.
    pub fn lost(&self) -> u64 {
        self.queues.iter().map(|q| q.lost).sum()
    }

    /// Whether every queue's report accounts for every accepted message (see
    /// [`QueueReport::is_accounted`]).
    pub fn is_accounted(&self) -> bool {
        self.queues.iter().all(QueueReport::is_accounted)
    }
}

/// One queue's part of a [`StopReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueReport {
    /// The queue's name.
    pub name: String,
    /// Messages whose handler returned `Ok`.
    pub handled_ok: u64,
    /// Messages that went to the dead-letter handler.
    pub dead_lettered: u64,
    /// Messages the drop-oldest overflow policy displaced
    /// ([`QueueOptions::drop_oldest`](crate::QueueOptions::drop_oldest)).
    pub displaced: u64,
    /// Messages put into the leftover store ([`Publisher::drain_left`]).
    pub left: u64,
    /// Messages still inside a handler when the report was made (timed out, or the one
    /// message whose handler called `stop`). Each ends as handled, dead-lettered or left when
    /// its handler returns.
    pub in_flight: u64,
    /// Messages accepted by a publish over the queue's life (retries not counted again).
    pub published: u64,
    /// Messages still queued when the report was made: 0 unless workers are still busy after a
    /// timeout, or the stop ran inside a handler whose message is retried in place.
    pub depth: u64,
    /// Messages dropped with a worker that died in a way no guard could catch; see
    /// [`StopReport::lost`].
    pub lost: u64,
    /// Delayed messages still waiting for their time when the report was made: 0 after a
    /// stop (those that were not due were handed back, in `left`).
    pub delayed: u64,
}

impl QueueReport {
    /// Whether every accepted message is accounted for: `published == handled_ok +
    /// dead_lettered + displaced + left + in_flight + depth + delayed + lost`. Exact for a stop that did not time
    /// out; after a timeout, workers still busy move messages between the counts while they
    /// are read, so the check may miss by those.
    ///
    /// ```
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let p = mq.register("q", 2, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// mq.start().unwrap();
    /// for i in 0..10 {
    ///     p.publish(i).unwrap();
    /// }
    /// let report = mq.stop_timeout(std::time::Duration::from_secs(10));
    /// let q = &report.queues[0];
    /// assert!(!report.timed_out && q.is_accounted());
    /// assert_eq!((q.published, q.handled_ok, q.depth, q.lost), (10, 10, 0, 0));
    /// ```
    pub fn is_accounted(&self) -> bool {
        self.published
            == self.handled_ok
                + self.dead_lettered
                + self.displaced
                + self.left
                + self.in_flight
                + self.depth
                + self.delayed
                + self.lost
    }
}

/// A message queue: named queues, each with a pool of workers running its handler.
///
/// The article's MQ, with its defects fixed: publishing is lock-free, a handler's panic does
/// not kill its worker, concurrency 0 is an error, publishing after stop gives the data back,
/// and stop drains every accepted message (or, with a deadline, hands the rest back).
///
/// `Mq` is `Send + Sync` and every method takes `&self`: share it in an `Arc`. Dropping it
/// stops it as [`stop`](Mq::stop) does.
///
/// ```
/// use segmq::{Mq, Msg};
///
/// let mq = Mq::new();
/// let lookups = mq
///     .register("lookups", 2, |m: &Msg<String>| {
///         println!("looking up #{} {}", m.id, m.data);
///         Ok::<_, std::io::Error>(())
///     })
///     .unwrap();
/// mq.start().unwrap();
/// lookups.publish("serendipity".to_string()).unwrap(); // typed: no lookup, no lock
/// mq.publish("lookups", "ephemeral".to_string()).unwrap(); // by name: lock-free read
/// mq.stop(); // drains both, then joins the workers
/// assert_eq!(mq.stats("lookups").unwrap().handled_ok, 2);
/// ```
pub struct Mq {
    map: ArcSwap<Map>,
    pub(crate) registry: Mutex<Registry>,
    /// Signalled when the close of a stop is done (`stop.rs`, invariant 3).
    pub(crate) closed: Condvar,
    pub(crate) timer: Arc<RetryTimer>,
    #[cfg(feature = "tokio")]
    pub(crate) runtime: std::sync::OnceLock<tokio::runtime::Runtime>,
}

impl Default for Mq {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Mq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reg = lock(&self.registry);
        f.debug_struct("Mq")
            .field("state", &reg.life.name())
            .field(
                "queues",
                &reg.queues.iter().map(|q| q.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Mq {
    /// An empty, idle message queue.
    ///
    /// ```
    /// let mq = segmq::Mq::new();
    /// assert!(mq.stats("none").is_none());
    /// ```
    pub fn new() -> Self {
        Self {
            map: ArcSwap::from_pointee(HashMap::new()),
            registry: Mutex::new(Registry {
                life: Lifecycle::new(),
                queues: Vec::new(),
                reserved: Vec::new(),
            }),
            closed: Condvar::new(),
            timer: Arc::new(RetryTimer::default()),
            #[cfg(feature = "tokio")]
            runtime: std::sync::OnceLock::new(),
        }
    }

    /// Registers a queue with `concurrency` worker threads running `handler`, and returns its
    /// publisher. If the `Mq` is running, the workers start at once.
    ///
    /// Errors: [`MqError::InvalidName`] for an empty name or one with a NUL byte,
    /// [`MqError::InvalidConcurrency`] for 0, [`MqError::DuplicateQueue`], [`MqError::Stopped`]
    /// after stop, and, if the `Mq` is running, [`MqError::Spawn`] when a worker thread cannot
    /// be spawned (the queue is then registered with the workers that did start; `stop`
    /// still accounts for every message).
    ///
    /// Queue names are configuration: each distinct name is kept once for the life of the
    /// process (so that messages carry it without reference counting), a few bytes each.
    ///
    /// ```
    /// use segmq::{Mq, MqError, Msg};
    /// let mq = Mq::new();
    /// let zero = mq.register("q", 0, |_: &Msg<u8>| Ok::<_, MqError>(()));
    /// assert!(matches!(zero, Err(MqError::InvalidConcurrency(_))));
    /// ```
    pub fn register<T, F, E>(
        &self,
        name: &str,
        concurrency: usize,
        handler: F,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + 'static,
        F: Fn(&Msg<T>) -> Result<(), E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.register_with(name, QueueOptions::new(concurrency), handler)
    }

    /// Registers a queue with options (retry policy, dead-letter handler, capacity).
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg, QueueOptions, RetryPolicy};
    /// let mq = Mq::new();
    /// let opts = QueueOptions::new(1).retry(RetryPolicy::fixed(2, Duration::from_millis(1)));
    /// let p = mq
    ///     .register_with("twice", opts, |m: &Msg<u8>| if m.attempt() == 1 { Err("first try fails") } else { Ok(()) })
    ///     .unwrap();
    /// p.publish(1).unwrap();
    /// mq.start().unwrap();
    /// mq.stop();
    /// let s = mq.stats("twice").unwrap();
    /// assert_eq!((s.failed, s.retried, s.handled_ok), (1, 1, 1));
    /// ```
    pub fn register_with<T, F, E>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        handler: F,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + 'static,
        F: Fn(&Msg<T>) -> Result<(), E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let handler = Arc::new(Plain::new(handler));
        self.register_erased(
            name,
            options,
            Box::new(move |core| {
                #[cfg(feature = "nats")]
                if core.remote.is_some() {
                    let plain = handler.clone();
                    let remote = Arc::new(move |m: &Msg<T>| (plain.0)(m));
                    return super::remote::spawn_workers(core, &remote);
                }
                spawn_threads(core, &handler, &mut super::worker::os_spawn)
            }),
        )
    }

    pub(crate) fn register_erased<T: Send + 'static>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        spawn: Spawn<T>,
    ) -> Result<Publisher<T>, MqError> {
        check_name(name)?;
        let concurrency = options.concurrency;
        // Under the lock only the checks and the name's reservation: the slow and fallible
        // part (a durable queue's recovery reads and replays its whole log) runs outside it,
        // so `start`, `stop`, `queue_names` and `Debug` do not wait for another queue's disk.
        // The reservation makes a second registration of the name fail at once, as if the
        // first had finished (one winner).
        {
            let mut reg = lock(&self.registry);
            reg.life.admits_registration()?;
            if self.map.load().contains_key(name) || reg.reserved.iter().any(|n| n == name) {
                return Err(MqError::DuplicateQueue(name.to_owned()));
            }
            reg.reserved.push(name.to_owned());
        }
        let built = self.build_core(name, concurrency, options);
        let mut reg = lock(&self.registry);
        reg.reserved.retain(|n| n != name);
        let core = built?;
        // The lifecycle may have moved meanwhile: a stop that began since is not joined by a
        // queue it never saw (dropping `core` here closes its log; recovered messages stay
        // there, undone, for the next registration).
        let running = reg.life.admits_registration()?;
        let publisher = Publisher {
            core: Arc::new(core),
        };
        let entry: Arc<dyn ErasedQueue> = Arc::new(Registered {
            publisher: publisher.clone(),
            spawn,
        });
        let mut map = Map::clone(&self.map.load());
        map.insert(publisher.core.name.into(), entry.clone());
        self.map.store(Arc::new(map));
        reg.queues.push(entry.clone());
        // stop.rs, invariant 2: started here only if `start` already ran. Spawning stays under
        // the lock (it is quick and bounded, unlike recovery): a stop that could run between
        // the insertion above and the spawn would wait for no worker of this queue and drain
        // it while its workers start.
        let started = if running { entry.start() } else { Ok(()) };
        drop(reg);
        tracing::info!(queue = name, concurrency, "mq: queue registered");
        started.map(|()| publisher)
    }

    /// A registration's queue, durable log opened and recovered: the slow part of `register`,
    /// run without the registry lock while the name is reserved.
    fn build_core<T: Send + 'static>(
        &self,
        name: &str,
        concurrency: usize,
        options: QueueOptions<T>,
    ) -> Result<QueueCore<T>, MqError> {
        #[allow(unused_mut)]
        let mut core = QueueCore::new(
            name,
            concurrency,
            options.capacity,
            options.retry,
            options.dead_letter,
            self.timer.clone(),
        )?;
        #[cfg(feature = "nats")]
        super::remote::attach(&mut core, options.remote, options.capacity)?;
        #[cfg(feature = "nats")]
        if core.remote.is_some() && options.timeout.is_some() {
            return Err(MqError::Unsupported {
                queue: name.to_owned(),
                what: "a handler timeout on a remote queue",
            });
        }
        core.timeout = options.timeout;
        if options.drop_oldest {
            if options.capacity.is_none() {
                return Err(MqError::Unsupported {
                    queue: name.to_owned(),
                    what: "drop_oldest without a capacity (an unbounded queue is never full)",
                });
            }
            #[cfg(feature = "nats")]
            if core.remote.is_some() {
                return Err(MqError::Unsupported {
                    queue: name.to_owned(),
                    what: "drop_oldest on a remote queue",
                });
            }
            core.drop_oldest = true;
        }
        #[cfg(feature = "durable")]
        if let Some(spec) = options.durable {
            #[cfg(feature = "nats")]
            super::remote::refuse_durable(&core)?;
            if options.capacity.is_some() {
                return Err(MqError::Unsupported {
                    queue: name.to_owned(),
                    what: "a capacity on a durable queue (recovery puts every pending message \
                           into the queue before the workers start, which a bound could not \
                           hold; bound the publishers instead)",
                });
            }
            #[cfg(test)]
            hooks::before_recovery();
            let durable = super::durable::Durable::open(spec, &core.queue)?;
            core.durable = Some(durable);
        }
        Ok(core)
    }

    /// The typed publisher of a registered queue.
    ///
    /// ```
    /// use segmq::{Mq, MqError, Msg};
    /// let mq = Mq::new();
    /// mq.register("n", 1, |_: &Msg<u64>| Ok::<_, MqError>(())).unwrap();
    /// assert!(mq.publisher::<u64>("n").is_ok());
    /// assert!(matches!(mq.publisher::<i64>("n"), Err(MqError::TypeMismatch { .. })));
    /// assert!(matches!(mq.publisher::<u64>("m"), Err(MqError::UnknownQueue(_))));
    /// ```
    pub fn publisher<T: Send + 'static>(&self, name: &str) -> Result<Publisher<T>, MqError> {
        let map = self.map.load();
        let entry = map
            .get(name)
            .ok_or_else(|| MqError::UnknownQueue(name.to_owned()))?;
        entry
            .publisher_any()
            .downcast_ref::<Publisher<T>>()
            .cloned()
            .ok_or_else(|| MqError::TypeMismatch {
                queue: name.to_owned(),
                expected: entry.type_name(),
                found: type_name::<T>(),
            })
    }

    /// Publishes to a queue by name: a lock-free map read, then the same push as
    /// [`Publisher::publish`]. Returns the message ID.
    ///
    /// ```
    /// use segmq::{Mq, MqError, Msg, PublishError};
    /// let mq = Mq::new();
    /// mq.register("n", 1, |_: &Msg<u64>| Ok::<_, MqError>(())).unwrap();
    /// assert_eq!(mq.publish("n", 5u64).unwrap(), 0);
    /// assert!(matches!(mq.publish("n", 5i32), Err(PublishError::TypeMismatch(5))));
    /// ```
    pub fn publish<T: Send + 'static>(&self, name: &str, data: T) -> Result<u64, PublishError<T>> {
        let map = self.map.load();
        match map.get(name) {
            None => Err(PublishError::UnknownQueue(data)),
            Some(entry) => match entry.publisher_any().downcast_ref::<Publisher<T>>() {
                Some(p) => p.publish(data),
                None => Err(PublishError::TypeMismatch(data)),
            },
        }
    }

    /// Starts the workers of every registered queue (queues registered later start at once).
    ///
    /// ```
    /// use segmq::{Mq, MqError};
    /// let mq = Mq::new();
    /// mq.start().unwrap();
    /// assert_eq!(mq.start(), Err(MqError::AlreadyRunning));
    /// mq.stop();
    /// assert_eq!(mq.start(), Err(MqError::Stopped));
    /// ```
    ///
    /// If a worker thread cannot be spawned, the other queues are still started and the first
    /// such error ([`MqError::Spawn`], naming the queue) is returned; the `Mq` is running with
    /// the workers that did start, and [`stop`](Mq::stop) accounts for every message.
    pub fn start(&self) -> Result<(), MqError> {
        let mut reg = lock(&self.registry);
        reg.life.start()?;
        // stop.rs, invariant 2: every queue registered so far, under the lock.
        let mut first_error = Ok(());
        for q in &reg.queues {
            if let Err(e) = q.start() {
                first_error = first_error.and(Err(e));
            }
        }
        first_error
    }

    /// Stops gracefully: later publishes fail with `Closed(data)`; the workers handle every
    /// message accepted before (retries included, after their backoff), then exit and are
    /// joined. Idempotent. If the `Mq` was never started, nothing runs the queued messages:
    /// they go to the leftovers ([`Publisher::drain_left`]).
    ///
    /// Concurrent calls are safe: one of them closes the queues, the others wait for that and
    /// then for the workers. Called from inside a handler (or by dropping the last `Arc<Mq>`
    /// there), it cannot wait for that handler: it waits for every other worker, and the
    /// report (see [`stop_timeout`](Mq::stop_timeout)) counts the caller's message as
    /// `in_flight`; that worker finishes it (and any retry of it) after the handler returns.
    /// From inside an async handler on a multi-thread runtime the wait runs in
    /// `tokio::task::block_in_place`, so the runtime thread's other tasks go on elsewhere; on
    /// a current-thread runtime nothing else can run while the handler blocks, so the stop
    /// does not wait: the report then says `timed_out` if other workers were still busy, and
    /// they finish the closed queue after the handler returns.
    ///
    /// A retry that meets a full bounded queue at stop does not wait for room: it is parked
    /// and run once the queue is closed and empty, so a handler blocked publishing into its
    /// own full queue gets `Closed` back instead of deadlocking the stop.
    ///
    /// ```
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let p = mq.register("q", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// mq.start().unwrap();
    /// p.publish(1).unwrap();
    /// mq.stop();
    /// mq.stop();
    /// assert_eq!(mq.stats("q").unwrap().handled_ok, 1);
    /// ```
    pub fn stop(&self) {
        self.stop_inner(None, Caller::User);
    }

    /// Stops like [`stop`](Mq::stop), but waits at most `timeout` for the workers. Messages
    /// still queued at the deadline, and failed messages that were to be retried, go to the
    /// queue's leftover store, from which [`Publisher::drain_left`] returns them; messages
    /// still in a handler at the deadline end there too (or as handled) when it returns. The
    /// report says how many of each there were. Workers still busy are not joined; a later
    /// [`stop`](Mq::stop) joins them, while dropping the `Mq` does not wait for them (they
    /// are detached and logged).
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register("slow", 1, |_: &Msg<u8>| {
    ///         std::thread::sleep(Duration::from_millis(20));
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .unwrap();
    /// for i in 0..100 {
    ///     p.publish(i).unwrap();
    /// }
    /// mq.start().unwrap();
    /// let report = mq.stop_timeout(Duration::from_millis(50));
    /// assert!(report.timed_out);
    /// mq.stop(); // joins the worker that was still busy
    /// let s = mq.stats("slow").unwrap();
    /// assert_eq!(s.handled_ok + p.drain_left().len() as u64, 100);
    /// ```
    pub fn stop_timeout(&self, timeout: Duration) -> StopReport {
        self.stop_inner(Instant::now().checked_add(timeout), Caller::User)
    }

    /// A snapshot of a queue's counters, or `None` for an unknown name.
    ///
    /// ```
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// mq.register("q", 3, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// mq.start().unwrap();
    /// assert_eq!(mq.stats("q").unwrap().published, 0);
    /// mq.stop();
    /// ```
    pub fn stats(&self, name: &str) -> Option<QueueStats> {
        self.map.load().get(name).map(|q| q.stats())
    }

    /// Names of the registered queues, in registration order.
    ///
    /// ```
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// mq.register("a", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(mq.queue_names(), ["a"]);
    /// ```
    pub fn queue_names(&self) -> Vec<String> {
        lock(&self.registry)
            .queues
            .iter()
            .map(|q| q.name().to_owned())
            .collect()
    }
}

impl Drop for Mq {
    /// Stops gracefully (as [`Mq::stop`]); but after a [`stop_timeout`](Mq::stop_timeout) that
    /// timed out it does not wait: workers still busy are detached (their messages end as
    /// handled, dead-lettered or left when their handlers return) and logged.
    ///
    /// The `Mq`'s own tokio runtime (async queues without `QueueOptions::runtime`) is shut
    /// down here; if the drop runs inside one of its handlers, that handler's task is cancelled
    /// at its next `.await` and its message handed back as a leftover
    /// ([`Publisher::drain_left`]).
    fn drop(&mut self) {
        self.stop_inner(None, Caller::Drop);
        #[cfg(feature = "tokio")]
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
