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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::pool::{lock, spawn_threads, QueueCore};
use super::retry::RetryTimer;
use super::{MqError, Msg, PublishError, Publisher, QueueOptions, QueueStats};

/// One registered queue, with its message type erased.
pub(crate) trait ErasedQueue: Send + Sync {
    /// The queue's `Publisher<T>`, for downcasting.
    fn publisher_any(&self) -> &(dyn Any + Send + Sync);
    fn type_name(&self) -> &'static str;
    fn name(&self) -> &str;
    fn start(&self);
    fn mark_stopping(&self, deadline: Option<Instant>);
    fn close(&self);
    fn drain_to_left(&self);
    fn wait_workers(&self, deadline: Option<Instant>) -> bool;
    fn join_finished(&self);
    fn stats(&self) -> QueueStats;
}

type Spawn<T> = Box<dyn Fn(&Arc<QueueCore<T>>) + Send + Sync>;

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
        &self.publisher.core.name
    }
    fn start(&self) {
        (self.spawn)(&self.publisher.core);
    }
    fn mark_stopping(&self, deadline: Option<Instant>) {
        self.publisher.core.mark_stopping(deadline);
    }
    fn close(&self) {
        self.publisher.core.queue.close();
    }
    fn drain_to_left(&self) {
        self.publisher.core.drain_to_left();
    }
    fn wait_workers(&self, deadline: Option<Instant>) -> bool {
        self.publisher.core.wait_workers(deadline)
    }
    fn join_finished(&self) {
        self.publisher.core.join_finished();
    }
    fn stats(&self) -> QueueStats {
        self.publisher.core.snapshot()
    }
}

type Map = HashMap<Arc<str>, Arc<dyn ErasedQueue>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Running,
    Stopped,
}

struct Registry {
    state: State,
    /// In registration order (for start, stop and reports).
    queues: Vec<Arc<dyn ErasedQueue>>,
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
    /// Messages put into the leftover store ([`Publisher::drain_left`]).
    pub left: u64,
    /// Messages still inside a handler when the report was made (timed out only). Each ends
    /// as handled, dead-lettered or left when its handler returns.
    pub in_flight: u64,
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
    registry: Mutex<Registry>,
    timer: Arc<RetryTimer>,
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
            .field("state", &reg.state)
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
                state: State::Idle,
                queues: Vec::new(),
            }),
            timer: Arc::new(RetryTimer::default()),
            #[cfg(feature = "tokio")]
            runtime: std::sync::OnceLock::new(),
        }
    }

    /// Registers a queue with `concurrency` worker threads running `handler`, and returns its
    /// publisher. If the `Mq` is running, the workers start at once.
    ///
    /// Errors: [`MqError::InvalidConcurrency`] for 0, [`MqError::DuplicateQueue`],
    /// [`MqError::Stopped`] after stop.
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
        let handler = Arc::new(handler);
        self.register_erased(
            name,
            options,
            Box::new(move |core| spawn_threads(core, &handler)),
        )
    }

    pub(crate) fn register_erased<T: Send + 'static>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        spawn: Spawn<T>,
    ) -> Result<Publisher<T>, MqError> {
        let mut reg = lock(&self.registry);
        if reg.state == State::Stopped {
            return Err(MqError::Stopped);
        }
        if self.map.load().contains_key(name) {
            return Err(MqError::DuplicateQueue(name.to_owned()));
        }
        #[allow(unused_mut)]
        let mut core = QueueCore::new(
            name,
            options.concurrency,
            options.capacity,
            options.retry,
            options.dead_letter,
            self.timer.clone(),
        )?;
        #[cfg(feature = "durable")]
        if let Some(spec) = options.durable {
            if options.capacity.is_some() {
                return Err(MqError::Unsupported {
                    queue: name.to_owned(),
                    what: "a capacity on a durable queue (recovery puts every pending message \
                           into the queue before the workers start, which a bound could not \
                           hold; bound the publishers instead)",
                });
            }
            let durable = super::durable::Durable::open(spec, &core.queue)?;
            core.durable = Some(durable);
        }
        let publisher = Publisher {
            core: Arc::new(core),
        };
        let entry: Arc<dyn ErasedQueue> = Arc::new(Registered {
            publisher: publisher.clone(),
            spawn,
        });
        let mut map = Map::clone(&self.map.load());
        map.insert(publisher.core.name.clone(), entry.clone());
        self.map.store(Arc::new(map));
        reg.queues.push(entry.clone());
        if reg.state == State::Running {
            entry.start();
        }
        tracing::info!(
            queue = name,
            concurrency = options.concurrency,
            "mq: queue registered"
        );
        Ok(publisher)
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
    pub fn start(&self) -> Result<(), MqError> {
        let mut reg = lock(&self.registry);
        match reg.state {
            State::Running => return Err(MqError::AlreadyRunning),
            State::Stopped => return Err(MqError::Stopped),
            State::Idle => {}
        }
        reg.state = State::Running;
        for q in &reg.queues {
            q.start();
        }
        Ok(())
    }

    /// Stops gracefully: later publishes fail with `Closed(data)`; the workers handle every
    /// message accepted before (retries included, after their backoff), then exit and are
    /// joined. Idempotent. If the `Mq` was never started, nothing runs the queued messages:
    /// they go to the leftovers ([`Publisher::drain_left`]).
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
        self.stop_inner(None);
    }

    /// Stops like [`stop`](Mq::stop), but waits at most `timeout` for the workers. Messages
    /// still queued at the deadline, and failed messages that were to be retried, go to the
    /// queue's leftover store, from which [`Publisher::drain_left`] returns them; messages
    /// still in a handler at the deadline end there too (or as handled) when it returns. The
    /// report says how many of each there were. Workers still busy are not joined; a later
    /// [`stop`](Mq::stop) joins them.
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
        self.stop_inner(Instant::now().checked_add(timeout))
    }

    fn stop_inner(&self, deadline: Option<Instant>) -> StopReport {
        let (queues, was_running) = {
            let mut reg = lock(&self.registry);
            let was_running = reg.state == State::Running;
            reg.state = State::Stopped;
            (reg.queues.clone(), was_running)
        };
        // Under the timer lock: mark every queue stopping, push waiting retries back; then
        // close (see retry.rs, "Stop").
        let refused = self.timer.flush_for_stop(|| {
            for q in &queues {
                q.mark_stopping(deadline);
            }
        });
        // Retries that met a full bounded queue: wait for the workers to make room (or, if
        // nothing consumes, hand them back as leftovers).
        for (not_before, job) in refused {
            if was_running {
                job.requeue_waiting(not_before, deadline);
            } else {
                job.give_up();
            }
        }
        for q in &queues {
            q.close();
            if !was_running {
                q.drain_to_left();
            }
        }
        let left_before: u64 = queues.iter().map(|q| q.stats().left).sum();
        let mut timed_out = false;
        for q in &queues {
            timed_out |= !q.wait_workers(deadline);
        }
        // Workers that met the deadline put their messages aside and exit quickly, so they may
        // all be gone by now: a leftover made during this stop also means "timed out".
        timed_out |= queues.iter().map(|q| q.stats().left).sum::<u64>() > left_before;
        for q in &queues {
            if timed_out {
                q.drain_to_left();
            }
            q.join_finished();
        }
        // Nothing is scheduled any more once the queues are stopping.
        self.timer.shutdown();
        StopReport {
            timed_out,
            queues: queues
                .iter()
                .map(|q| {
                    let s = q.stats();
                    QueueReport {
                        name: q.name().to_owned(),
                        handled_ok: s.handled_ok,
                        dead_lettered: s.dead_lettered,
                        left: s.left,
                        in_flight: s.in_flight,
                    }
                })
                .collect(),
        }
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
    /// Stops gracefully (as [`Mq::stop`]).
    fn drop(&mut self) {
        self.stop();
        #[cfg(feature = "tokio")]
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
