//! The consumer pool: per-queue shared state ([`QueueCore`]) and the worker loop.
//!
//! # Design
//!
//! Each queue has `concurrency` worker threads, named `mq:<queue>:<n>`, each blocked in
//! `recv` on the queue (parked on the queue's event, no polling while idle). A worker runs the
//! handler under `catch_unwind`, so an `Err` or a panic is logged (with queue, worker and message
//! ID), counted, and then retried or dead-lettered: the worker itself never dies. The same
//! per-message logic ([`QueueCore::begin`], [`QueueCore::after_attempt`]) serves the async tasks
//! of `async_pool.rs`, which differ only in how they wait.
//!
//! # Stop with a deadline
//!
//! `stop_timeout` records its deadline in every queue before closing it. Past the deadline a
//! worker no longer starts a message: what it pops (or still holds for an in-place retry) goes
//! into the queue's leftover store, and `stop_timeout` itself empties the queue into the same
//! store. [`Publisher::drain_left`](crate::Publisher::drain_left) hands the leftovers back.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::msg::Envelope;
use super::options::DeadLetter;
use super::retry::{Pending, RetryPolicy, RetryTimer, XorShift};
use super::stats::{self, CoreStats, QueueStats, WorkerStats};
use super::{MqError, Msg};
use crate::{Queue, TrySendError};

/// The error type handlers' errors are turned into.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How one handler call ended, when it did not succeed.
pub(crate) enum Failure {
    Error(BoxError),
    Panic(Box<dyn Any + Send>),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(e) => write!(f, "error: {e}"),
            Self::Panic(p) => {
                let text = p
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| p.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(non-string payload)");
                write!(f, "panic: {text}")
            }
        }
    }
}

/// What the worker does after an attempt.
pub(crate) enum Next<T> {
    /// Finished with the message (handled, scheduled for retry, dead-lettered or left).
    Done,
    /// The queue is stopping: retry the message here, not before the given time.
    RetryHere(Msg<T>, Instant),
}

/// No deadline.
const NO_DEADLINE: u64 = u64::MAX;

/// Locks a mutex, ignoring poison (no user code runs under these locks).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates the queue of an `Mq` queue.
fn make_queue<T>(name: &str, capacity: Option<usize>) -> Result<Queue<Envelope<T>>, MqError> {
    match capacity {
        None => Ok(Queue::unbounded()),
        Some(0) => Err(MqError::Unsupported {
            queue: name.to_owned(),
            what: "a bounded queue of capacity 0",
        }),
        Some(n) => Ok(Queue::bounded(n)),
    }
}

/// Everything the publishers and workers of one queue share.
pub(crate) struct QueueCore<T> {
    pub(crate) name: Arc<str>,
    pub(crate) queue: Queue<Envelope<T>>,
    pub(crate) concurrency: usize,
    policy: RetryPolicy,
    dead_letter: Option<DeadLetter<T>>,
    timer: Arc<RetryTimer>,
    /// Set (under the timer lock) when stop begins: retries are done in place from then on.
    stopping: AtomicBool,
    /// `stop_timeout`'s deadline, in nanoseconds after `epoch` (`NO_DEADLINE`: none).
    deadline: AtomicU64,
    epoch: Instant,
    left: Mutex<Vec<Msg<T>>>,
    workers: Mutex<Vec<Arc<WorkerStats>>>,
    pub(crate) stats: CoreStats,
    live: Mutex<usize>,
    all_exited: Condvar,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
    /// The write-ahead log of a durable queue.
    #[cfg(feature = "durable")]
    pub(crate) durable: Option<super::durable::Durable<T>>,
}

impl<T: Send + 'static> QueueCore<T> {
    pub(crate) fn new(
        name: &str,
        concurrency: usize,
        capacity: Option<usize>,
        policy: RetryPolicy,
        dead_letter: Option<DeadLetter<T>>,
        timer: Arc<RetryTimer>,
    ) -> Result<Self, MqError> {
        if concurrency == 0 {
            return Err(MqError::InvalidConcurrency(name.to_owned()));
        }
        Ok(Self {
            name: name.into(),
            queue: make_queue(name, capacity)?,
            concurrency,
            policy,
            dead_letter,
            timer,
            stopping: AtomicBool::new(false),
            deadline: AtomicU64::new(NO_DEADLINE),
            epoch: Instant::now(),
            left: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            stats: CoreStats::default(),
            live: Mutex::new(0),
            all_exited: Condvar::new(),
            threads: Mutex::new(Vec::new()),
            #[cfg(feature = "durable")]
            durable: None,
        })
    }

    /// Registers a new worker: its counters, and its place in the live count (left when the
    /// returned guard drops, even if the worker unwinds). Called before the worker is spawned,
    /// so that a stop right after a start waits for it.
    pub(crate) fn enter(self: &Arc<Self>) -> (Arc<WorkerStats>, LiveGuard<T>) {
        let stats = Arc::new(WorkerStats::new());
        lock(&self.workers).push(stats.clone());
        let mut live = lock(&self.live);
        *live += 1;
        self.stats.workers.store(*live, Ordering::Relaxed);
        (stats, LiveGuard(self.clone()))
    }

    /// Whether `stop_timeout`'s deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        match self.deadline.load(Ordering::Acquire) {
            NO_DEADLINE => false,
            d => self.epoch.elapsed() >= Duration::from_nanos(d),
        }
    }

    /// The earlier of `t` and the stop deadline.
    pub(crate) fn cap_at_deadline(&self, t: Instant) -> Instant {
        match self.deadline.load(Ordering::Acquire) {
            NO_DEADLINE => t,
            d => t.min(self.epoch + Duration::from_nanos(d)),
        }
    }

    /// Marks the queue as stopping (called under the timer lock), with an optional deadline.
    pub(crate) fn mark_stopping(&self, deadline: Option<Instant>) {
        if let Some(d) = deadline {
            let nanos = d.saturating_duration_since(self.epoch).as_nanos();
            let nanos = u64::try_from(nanos).unwrap_or(NO_DEADLINE - 1);
            // Keep the earliest deadline if stop_timeout is called more than once.
            self.deadline.fetch_min(nanos, Ordering::AcqRel);
        }
        self.stopping.store(true, Ordering::Release);
    }

    /// Puts a message into the leftover store.
    pub(crate) fn put_left(&self, msg: Msg<T>) {
        lock(&self.left).push(msg);
        self.stats.left.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes the leftovers.
    pub(crate) fn take_left(&self) -> Vec<Msg<T>> {
        std::mem::take(&mut *lock(&self.left))
    }

    /// Empties the queue into the leftover store (stop without workers, or past the deadline).
    pub(crate) fn drain_to_left(&self) {
        while let Ok((seq, env)) = self.queue.chan.try_recv() {
            self.stats.drained.fetch_add(1, Ordering::Relaxed);
            self.put_left(env.into_msg(seq, &self.name));
        }
    }

    /// Waits until every worker has exited, or `deadline`; `true` if they all have.
    pub(crate) fn wait_workers(&self, deadline: Option<Instant>) -> bool {
        let mut live = lock(&self.live);
        while *live > 0 {
            match deadline {
                None => {
                    live = self
                        .all_exited
                        .wait(live)
                        .unwrap_or_else(PoisonError::into_inner)
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    live = self
                        .all_exited
                        .wait_timeout(live, d - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
        drop(live);
        close_log_if_stopped(self);
        true
    }

    /// Joins the worker threads that have finished.
    pub(crate) fn join_finished(&self) {
        let mut threads = lock(&self.threads);
        let (done, running): (Vec<_>, Vec<_>) =
            threads.drain(..).partition(JoinHandle::is_finished);
        *threads = running;
        drop(threads);
        for t in done {
            let _ = t.join();
        }
    }

    pub(crate) fn snapshot(&self) -> QueueStats {
        let workers = lock(&self.workers).clone();
        stats::snapshot(&workers, &self.stats, self.queue.len())
    }

    /// A popped envelope becomes a message to handle, or goes to the leftovers past the stop
    /// deadline. Returns the message and the time it may start (retries flushed at stop).
    pub(crate) fn begin(
        &self,
        w: &WorkerStats,
        seq: u64,
        env: Envelope<T>,
    ) -> Option<(Msg<T>, Option<Instant>)> {
        WorkerStats::bump(&w.popped);
        let not_before = env.not_before;
        let msg = env.into_msg(seq, &self.name);
        if self.past_deadline() {
            self.put_left(msg);
            WorkerStats::bump(&w.finished);
            return None;
        }
        if msg.attempt == 1 {
            w.record_latency(msg.enqueued_at.elapsed());
        }
        Some((msg, not_before))
    }

    /// A message the worker gives up on because the stop deadline passed.
    pub(crate) fn abandon(&self, w: &WorkerStats, msg: Msg<T>) {
        self.put_left(msg);
        WorkerStats::bump(&w.finished);
    }

    /// Counts and logs the outcome of one handler call, then decides: done, or retry in place.
    pub(crate) fn after_attempt(
        self: &Arc<Self>,
        w: &WorkerStats,
        worker: usize,
        mut msg: Msg<T>,
        outcome: Result<(), Failure>,
        rng: &mut XorShift,
    ) -> Next<T> {
        let failure = match outcome {
            Ok(()) => {
                #[cfg(feature = "durable")]
                if let Some(d) = &self.durable {
                    d.done(msg.id);
                }
                WorkerStats::bump(&w.ok);
                WorkerStats::bump(&w.finished);
                return Next::Done;
            }
            Err(f) => f,
        };
        match &failure {
            Failure::Error(_) => WorkerStats::bump(&w.failed),
            Failure::Panic(_) => WorkerStats::bump(&w.panicked),
        }
        tracing::warn!(
            queue = %self.name, worker, msg_id = msg.id, attempt = msg.attempt,
            "mq: handler failed: {failure}"
        );
        if msg.attempt >= self.policy.max_attempts() {
            #[cfg(feature = "durable")]
            let id = msg.id;
            self.dead_letter(msg);
            #[cfg(feature = "durable")]
            if let Some(d) = &self.durable {
                d.done(id);
            }
            WorkerStats::bump(&w.dead_lettered);
            WorkerStats::bump(&w.finished);
            return Next::Done;
        }
        // Logged before it is retried or left: the retry policy's count survives a crash.
        #[cfg(feature = "durable")]
        if let Some(d) = &self.durable {
            d.attempted(msg.id, msg.attempt);
        }
        if self.past_deadline() {
            self.abandon(w, msg);
            return Next::Done;
        }
        WorkerStats::bump(&w.retried);
        let due = Instant::now() + self.policy.jittered_delay(msg.attempt, rng);
        msg.attempt += 1;
        let job = Retry {
            core: self.clone(),
            msg,
        };
        match self
            .timer
            .schedule(due, job, || self.stopping.load(Ordering::Acquire))
        {
            Ok(()) => {
                WorkerStats::bump(&w.finished);
                Next::Done
            }
            Err(job) => Next::RetryHere(job.msg, due),
        }
    }

    fn dead_letter(&self, msg: Msg<T>) {
        let id = msg.id;
        match &self.dead_letter {
            None => tracing::error!(
                queue = %self.name, msg_id = id, attempts = msg.attempt,
                "mq: message dead-lettered (no dead-letter handler)"
            ),
            Some(handler) => {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(msg))) {
                    tracing::error!(
                        queue = %self.name, msg_id = id,
                        "mq: dead-letter handler {}", Failure::Panic(p)
                    );
                }
            }
        }
    }
}

/// Leaves the live count when a worker ends.
pub(crate) struct LiveGuard<T>(Arc<QueueCore<T>>);

impl<T> Drop for LiveGuard<T> {
    fn drop(&mut self) {
        let core = &self.0;
        let mut live = lock(&core.live);
        *live -= 1;
        core.stats.workers.store(*live, Ordering::Relaxed);
        if *live == 0 {
            // Before the wake-up: a stop that sees no worker finds the log closed.
            close_log_if_stopped(core);
            core.all_exited.notify_all();
        }
    }
}

/// Closes a durable queue's log once the queue is closed and no worker runs: nothing writes
/// to it any more, and the directory is free for another owner.
fn close_log_if_stopped<T>(_core: &QueueCore<T>) {
    #[cfg(feature = "durable")]
    if let Some(d) = &_core.durable {
        if _core.queue.is_closed() {
            d.close();
        }
    }
}

/// A retry waiting in the timer.
struct Retry<T> {
    core: Arc<QueueCore<T>>,
    msg: Msg<T>,
}

impl<T: Send + 'static> Pending for Retry<T> {
    fn requeue(self: Box<Self>, not_before: Option<Instant>) -> Option<Box<dyn Pending>> {
        let Retry { core, msg } = *self;
        let mut env = msg.into_envelope();
        env.not_before = not_before;
        match core.queue.chan.try_send(env) {
            Ok(_) => {
                core.stats.requeued.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(TrySendError::Full(env)) => {
                let msg = env.into_msg(0, &core.name);
                Some(Box::new(Retry { core, msg }))
            }
            Err(TrySendError::Closed(env)) => {
                // Cannot happen (queues close only after the timer is flushed), but never lose it.
                let msg = env.into_msg(0, &core.name);
                core.put_left(msg);
                None
            }
        }
    }

    fn requeue_waiting(self: Box<Self>, not_before: Instant, deadline: Option<Instant>) {
        let Retry { core, msg } = *self;
        let mut env = msg.into_envelope();
        env.not_before = Some(not_before);
        match core.queue.chan.send_blocking(env, deadline) {
            Ok(_) => {
                core.stats.requeued.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Deadline passed (or, impossibly, closed): never lose it.
                let msg = e.into_inner().into_msg(0, &core.name);
                core.put_left(msg);
            }
        }
    }

    fn give_up(self: Box<Self>) {
        self.core.put_left(self.msg);
    }
}

/// Calls a handler, catching a panic.
fn call<T, F, E>(handler: &F, msg: &Msg<T>) -> Result<(), Failure>
where
    F: Fn(&Msg<T>) -> Result<(), E>,
    E: Into<BoxError>,
{
    match catch_unwind(AssertUnwindSafe(|| handler(msg))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Error(e.into())),
        Err(p) => Err(Failure::Panic(p)),
    }
}

/// Starts the worker threads of a queue.
pub(crate) fn spawn_threads<T, F, E>(core: &Arc<QueueCore<T>>, handler: &Arc<F>)
where
    T: Send + 'static,
    F: Fn(&Msg<T>) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    let mut threads = lock(&core.threads);
    for worker in 0..core.concurrency {
        let core = core.clone();
        let handler = handler.clone();
        let (w, live) = core.enter();
        let thread = std::thread::Builder::new()
            .name(format!("mq:{}:{worker}", core.name))
            .spawn(move || {
                let _live = live;
                run_worker(&core, worker, &w, &*handler)
            })
            .expect("segmq: cannot spawn a worker thread");
        threads.push(thread);
    }
}

/// One worker thread: receive, handle, retry or dead-letter, until the queue is closed and empty.
fn run_worker<T, F, E>(core: &Arc<QueueCore<T>>, worker: usize, w: &WorkerStats, handler: &F)
where
    T: Send + 'static,
    F: Fn(&Msg<T>) -> Result<(), E>,
    E: Into<BoxError>,
{
    let mut rng = XorShift::new(worker as u64);
    tracing::debug!(queue = %core.name, worker, "mq: worker started");
    while let Ok((seq, env)) = core.queue.chan.recv_blocking(None) {
        let Some((mut msg, not_before)) = core.begin(w, seq, env) else {
            continue;
        };
        if let Some(t) = not_before {
            if !sleep_until(core, t) {
                core.abandon(w, msg);
                continue;
            }
        }
        loop {
            let outcome = call(handler, &msg);
            match core.after_attempt(w, worker, msg, outcome, &mut rng) {
                Next::Done => break,
                Next::RetryHere(m, due) => {
                    if !sleep_until(core, due) {
                        core.abandon(w, m);
                        break;
                    }
                    msg = m;
                }
            }
        }
    }
    tracing::debug!(queue = %core.name, worker, "mq: worker stopped");
}

/// Sleeps until `t` or the stop deadline; `false` if the deadline passed.
fn sleep_until<T: Send + 'static>(core: &QueueCore<T>, t: Instant) -> bool {
    let until = core.cap_at_deadline(t);
    let now = Instant::now();
    if until > now {
        std::thread::sleep(until - now);
    }
    !core.past_deadline()
}
