//! [`QueueCore`]: what the publishers, the workers and `stop` of one queue share, and the
//! per-message steps that thread workers (`worker.rs`) and async tasks (`async_pool.rs`) have in
//! common: [`begin`](QueueCore::begin) a popped message, [`settle`](QueueCore::settle) it after
//! an attempt (carrying out the [`Decision`]).
//!
//! # Accounting
//!
//! Every accepted message is, at any time, in exactly one of: the queue, the `parked` list
//! (a retry that met a full bounded queue at stop), the retry timer (retries, and delayed
//! messages not yet due: `delay.rs`), a worker (popped, not
//! finished), or one of the final counts `handled_ok`, `dead_lettered`, `left`, `lost`. The
//! counters of `stats.rs` follow each move, which is what lets [`StopReport`](super::StopReport)
//! check that nothing went missing. `lost` counts messages dropped with a worker that died in a
//! way no guard could catch (an async task cancelled with its runtime, a bug in segmq); it
//! should stay 0, and `stop` reports it rather than hiding it.
//!
//! # Primitives
//!
//! The locks, the flags and the worker threads come from `crate::sync` (loom under
//! `--cfg loom`). Two things stay on std on purpose: `Arc` (the registry needs
//! `Arc<dyn ErasedQueue>`, an unsized coercion loom's `Arc` cannot do; reference counting is
//! std's protocol, not segmq's), and the statistics counters of `stats.rs` (observations that
//! order nothing; as loom atomics every relaxed increment would be a branch point of the
//! models).
//!
//! # Stop with a deadline
//!
//! `stop_timeout` records its deadline in every queue before closing it. Past the deadline a
//! worker no longer starts a message: what it pops (or still holds for an in-place retry) goes
//! into the queue's leftover store, and `stop_timeout` itself empties the queue into the same
//! store. [`Publisher::drain_left`](crate::Publisher::drain_left) hands the leftovers back.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::clock;
use super::context::Shared;
use super::decision::Decision;
use super::live::LiveWorkers;
use super::metrics::QueueMetrics;
use super::msg::Envelope;
use super::options::DeadLetter;
use super::retry::{Pending, RetryPolicy, RetryTimer};
use super::skip::DeadLetterReason;
use super::stats::{self, CoreStats, QueueStats, WorkerStats};
use super::user_code::{self, drop_failure, drop_quietly, panic_text, Failure};
use super::{MqError, Msg};
use std::sync::Arc;

use crate::sync::{thread, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};
use crate::{Queue, TrySendError};

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

/// Checks a queue name: it names threads and log lines, so it must be non-empty and free of NUL.
pub(crate) fn check_name(name: &str) -> Result<(), MqError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(MqError::InvalidName {
        name: name.to_owned(),
        reason,
    })
}

/// Everything the publishers and workers of one queue share.
pub(crate) struct QueueCore<T> {
    /// Interned (`names.rs`): messages carry it without reference counting.
    pub(crate) name: &'static str,
    pub(crate) queue: Queue<Envelope<T>>,
    pub(crate) concurrency: usize,
    /// The drop-oldest overflow policy (`QueueOptions::drop_oldest`): publishes displace the
    /// oldest message of the full bounded queue instead of waiting.
    pub(crate) drop_oldest: bool,
    /// The handler timeout of each attempt (`QueueOptions::timeout`, `timeout.rs`).
    pub(crate) timeout: Option<Duration>,
    /// What the cancellation tokens of this queue's handlers share (`context.rs`): the stop
    /// deadline and its wake-up.
    pub(crate) tokens: Arc<Shared>,
    policy: RetryPolicy,
    dead_letter: Option<DeadLetter<T>>,
    timer: Arc<RetryTimer>,
    /// Set (under the timer lock) when stop begins: retries are done in place from then on.
    stopping: AtomicBool,
    /// `stop_timeout`'s deadline, in nanoseconds after `epoch` (`NO_DEADLINE`: none).
    deadline: AtomicU64,
    epoch: Instant,
    left: Mutex<Vec<Msg<T>>>,
    /// Retries that met a full queue at stop; the workers take them once the queue is closed
    /// and empty (pushing them would wait for room while publishers may still fill it).
    parked: Mutex<Vec<Envelope<T>>>,
    workers: Mutex<Vec<Arc<WorkerStats>>>,
    pub(crate) stats: CoreStats,
    /// The queue's metric handles (feature `metrics`; empty without it).
    pub(crate) metrics: QueueMetrics,
    /// Delayed publishes (`delay.rs`).
    pub(crate) delays: super::delay::Delays,
    pub(crate) live: LiveWorkers,
    pub(crate) threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// The write-ahead log of a durable queue.
    #[cfg(feature = "durable")]
    pub(crate) durable: Option<super::durable::Durable<T>>,
    /// The server-side queue of a remote queue (`remote/`): publishes go there, not into
    /// `queue` (which stays empty and only carries the closed flag). Boxed: a local queue's
    /// core grows by one word.
    #[cfg(feature = "nats")]
    pub(crate) remote: Option<Box<super::remote::Remote<T>>>,
    /// The tokio runtime of an async queue (`runtime.rs`); unset for worker threads.
    #[cfg(feature = "tokio")]
    pub(crate) runtime: std::sync::OnceLock<super::runtime::RuntimeUse>,
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
        check_name(name)?;
        if concurrency == 0 {
            return Err(MqError::InvalidConcurrency(name.to_owned()));
        }
        let name = super::names::intern(name);
        Ok(Self {
            name,
            queue: make_queue(name, capacity)?,
            concurrency,
            drop_oldest: false,
            timeout: None,
            tokens: Arc::new(Shared::new()),
            policy,
            dead_letter,
            timer,
            stopping: AtomicBool::new(false),
            deadline: AtomicU64::new(NO_DEADLINE),
            epoch: Instant::now(),
            left: Mutex::new(Vec::new()),
            parked: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            stats: CoreStats::default(),
            metrics: QueueMetrics::new(name),
            delays: Default::default(),
            live: LiveWorkers::default(),
            threads: Mutex::new(Vec::new()),
            #[cfg(feature = "durable")]
            durable: None,
            #[cfg(feature = "nats")]
            remote: None,
            #[cfg(feature = "tokio")]
            runtime: std::sync::OnceLock::new(),
        })
    }

    /// Registers a new worker: its counters, and its place in the live count (left when the
    /// returned guard drops, even if the worker unwinds or is never spawned). Called before
    /// the worker is spawned, so that a stop right after a start waits for it.
    pub(crate) fn enter(self: &Arc<Self>) -> (Arc<WorkerStats>, LiveGuard<T>) {
        let stats = std::sync::Arc::new(WorkerStats::new());
        lock(&self.workers).push(stats.clone());
        self.live.enter(&self.stats.workers);
        (stats, LiveGuard(self.clone()))
    }

    /// The queue's retry policy.
    pub(crate) fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// How many of this queue's live workers are the calling thread: 1 when `stop` is called
    /// from inside one of its handlers (that worker cannot exit before `stop` returns).
    pub(crate) fn own_workers(&self) -> usize {
        let me = thread::current().id();
        let on_thread = lock(&self.threads).iter().any(|t| t.thread().id() == me);
        usize::from(on_thread || in_async_handler(self))
    }

    /// Waits until every worker but the caller's own has exited, or `deadline`.
    pub(crate) fn wait_workers(&self, deadline: Option<Instant>) -> bool {
        let exited = self.live.wait_exited(self.own_workers(), deadline);
        if exited {
            close_log_if_stopped(self);
        }
        if self.past_deadline() {
            // The stop's deadline has passed: the tokens are cancelled already (they compare
            // it with the clock); this wakes their waiters that no timer wakes.
            self.tokens.fire_stop();
        }
        exited
    }

    /// For an async wait (`stop_async`): `Ok` once every worker but the caller's own has
    /// exited, else a listener to await before asking again.
    pub(crate) fn exited_or_listen(&self) -> Result<(), crate::sync::event::Listener> {
        self.live.exited_or_listen(self.own_workers())?;
        close_log_if_stopped(self);
        Ok(())
    }

    /// Joins the worker threads (all but the caller's own), once they have exited.
    pub(crate) fn join_exited(&self) {
        let me = thread::current().id();
        let threads = std::mem::take(&mut *lock(&self.threads));
        let (own, others): (Vec<_>, Vec<_>) =
            threads.into_iter().partition(|t| t.thread().id() == me);
        *lock(&self.threads) = own;
        for t in others {
            // A worker catches every panic of user code; an `Err` here is a bug in segmq,
            // already counted as `lost` by the worker's guard if it held a message.
            let _ = t.join();
        }
    }

    /// Forgets the handles of workers that are still busy (they exit on their own).
    pub(crate) fn detach(&self) -> usize {
        let threads = std::mem::take(&mut *lock(&self.threads));
        threads.len()
    }

    /// Whether `stop_timeout`'s deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        // Acquire pairs with the `fetch_min` in `set_deadline` (only a value is published).
        match self.deadline.load(Ordering::Acquire) {
            NO_DEADLINE => false,
            d => clock::passed(self.epoch + Duration::from_nanos(d)),
        }
    }

    /// The earlier of `t` and the stop deadline.
    pub(crate) fn cap_at_deadline(&self, t: Instant) -> Instant {
        // Acquire: as in `past_deadline`.
        match self.deadline.load(Ordering::Acquire) {
            NO_DEADLINE => t,
            d => t.min(self.epoch + Duration::from_nanos(d)),
        }
    }

    /// Records a stop deadline (the earliest one wins if several stops give one).
    pub(crate) fn set_deadline(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(NO_DEADLINE - 1);
        // AcqRel: pairs with the Acquire loads in `past_deadline`/`cap_at_deadline`.
        self.deadline.fetch_min(nanos, Ordering::AcqRel);
        self.tokens.set_stop_deadline(deadline);
    }

    /// Marks the queue as stopping (called under the timer lock, see `retry.rs`).
    pub(crate) fn mark_stopping(&self) {
        // Relaxed is enough: the flag is written and read only under the timer lock, whose
        // release/acquire orders it.
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Whether stop has begun (read under the timer lock, see `mark_stopping`).
    pub(crate) fn is_stopping(&self) -> bool {
        // Relaxed: read under the timer lock (see `mark_stopping`).
        self.stopping.load(Ordering::Relaxed)
    }

    /// The `Mq`'s timer (retries and delayed messages).
    pub(crate) fn timer(&self) -> &Arc<RetryTimer> {
        &self.timer
    }

    /// Parks a due delayed message that met a full queue at stop (as `park`, but not counted
    /// as a push back: it was never popped).
    pub(crate) fn park_fresh(&self, env: Envelope<T>) {
        lock(&self.parked).push(env);
    }

    /// Leftovers not counting the delayed messages handed back at stop before they were due
    /// (those are no sign of a timeout).
    pub(crate) fn left_by_stop(&self) -> u64 {
        // Saturating: a hand-back counts itself before the leftover it becomes.
        (self.stats.left.load(Relaxed)).saturating_sub(self.delays.handed_back())
    }

    /// Puts a message into the leftover store.
    pub(crate) fn put_left(&self, msg: Msg<T>) {
        lock(&self.left).push(msg);
        self.stats.left.fetch_add(1, Relaxed);
    }

    /// A retry that goes to the leftovers straight from the timer: counted as if it was put
    /// back into the queue and drained from it, so that `published` stays exact.
    fn requeue_to_left(&self, msg: Msg<T>) {
        self.stats.requeued.fetch_add(1, Relaxed);
        self.stats.drained.fetch_add(1, Relaxed);
        self.put_left(msg);
    }

    /// Takes the leftovers.
    pub(crate) fn take_left(&self) -> Vec<Msg<T>> {
        std::mem::take(&mut *lock(&self.left))
    }

    /// Parks a retry that met a full queue at stop (see `parked`).
    fn park(&self, env: Envelope<T>) {
        lock(&self.parked).push(env);
        // Counted as a push back into the queue; `depth` counts the parked list.
        self.stats.requeued.fetch_add(1, Relaxed);
    }

    /// A parked retry, for a worker that found the queue closed and empty.
    pub(crate) fn take_parked(&self) -> Option<Envelope<T>> {
        lock(&self.parked).pop()
    }

    /// Empties the queue and the parked retries into the leftover store (stop without
    /// workers, past the deadline, or after workers died). Returns how many it moved.
    pub(crate) fn drain_to_left(&self) -> u64 {
        let mut moved = 0;
        while let Ok((seq, env)) = self.queue.chan.try_recv() {
            self.stats.drained.fetch_add(1, Relaxed);
            self.put_left(env.into_msg(seq, self.name));
            moved += 1;
        }
        while let Some(env) = self.take_parked() {
            self.stats.drained.fetch_add(1, Relaxed);
            self.put_left(env.into_msg(0, self.name));
            moved += 1;
        }
        self.metrics.depth_now(&self.queue);
        moved
    }

    /// What `Mq::stats` and `Publisher::stats` report: the counters, and for a remote queue
    /// the server's counts (two requests; `None` if the server did not answer).
    pub(crate) fn stats(&self) -> QueueStats {
        #[allow(unused_mut)]
        let mut stats = self.snapshot();
        #[cfg(feature = "nats")]
        if let Some(r) = &self.remote {
            stats.remote = r
                .server_stats()
                .map_err(|e| tracing::debug!(queue = %self.name, "mq: no server counts: {e}"))
                .ok();
        }
        stats
    }

    pub(crate) fn snapshot(&self) -> QueueStats {
        let workers = lock(&self.workers).clone();
        let depth = self.queue.len() + lock(&self.parked).len();
        let mut s = stats::snapshot(&workers, &self.stats, depth);
        s.delayed = self.delays.pending();
        s.published += s.delayed;
        s
    }

    /// A popped envelope becomes a message to handle, or goes to the leftovers past the stop
    /// deadline. Returns the message and the time it may start (retries flushed at stop).
    #[inline]
    pub(crate) fn begin(
        &self,
        w: &WorkerStats,
        seq: u64,
        mut env: Envelope<T>,
    ) -> Option<(Msg<T>, Option<Instant>)> {
        WorkerStats::bump(&w.popped);
        let not_before = env.take_not_before();
        let msg = env.into_msg(seq, self.name);
        if self.past_deadline() {
            self.abandon(w, msg);
            return None;
        }
        // The queue wait is measured when the handler starts (`observe.rs`).
        Some((msg, not_before))
    }

    /// A message the worker gives up on because the stop deadline passed.
    pub(crate) fn abandon(&self, w: &WorkerStats, msg: Msg<T>) {
        self.put_left(msg);
        WorkerStats::bump(&w.finished);
    }

    /// A message a worker lost (a panic escaped every guard: a bug in segmq).
    pub(crate) fn lose(&self, w: &WorkerStats, worker: usize) {
        tracing::error!(queue = %self.name, worker, "mq: a message was lost (internal panic)");
        self.stats.lost.fetch_add(1, Relaxed);
        WorkerStats::bump(&w.finished);
    }

    /// Carries out the decision after an attempt: counts and logs it, then the message is
    /// done (handled, dead-lettered, scheduled for retry, or left) or retried in place.
    /// Inlined into the worker loop with the handled case (each call that moves a `Msg` costs
    /// its copy); failures go to the out-of-line [`settle_failure`](Self::settle_failure).
    #[inline]
    pub(crate) fn settle(
        self: &Arc<Self>,
        w: &WorkerStats,
        worker: usize,
        msg: Msg<T>,
        decision: Decision,
    ) -> Next<T> {
        match decision {
            Decision::Handled => {
                #[cfg(feature = "durable")]
                if let Some(d) = &self.durable {
                    d.done(msg.id);
                }
                WorkerStats::bump(&w.ok);
                self.metrics.handled_ok();
                WorkerStats::bump(&w.finished);
                // The payload's `Drop` is user code; the extras are ours, and most messages
                // have none: this keeps the guard away from messages whose payload needs none.
                let (data, extras) = msg.into_parts();
                if extras.is_some() {
                    drop_quietly(extras, self.name, "a handled message's extras");
                }
                drop_quietly(data, self.name, "a handled message");
                Next::Done
            }
            Decision::DeadLetter { failure } => self.settle_failure(w, worker, msg, failure, None),
            Decision::Retry { failure, after } => {
                self.settle_failure(w, worker, msg, failure, Some(after))
            }
        }
    }

    /// [`settle`](Self::settle) for a failed attempt: retried after `retry_after`, or
    /// dead-lettered when it is `None`.
    #[cold]
    #[inline(never)]
    fn settle_failure(
        self: &Arc<Self>,
        w: &WorkerStats,
        worker: usize,
        mut msg: Msg<T>,
        failure: Failure,
        retry_after: Option<Duration>,
    ) -> Next<T> {
        // Logged before it is retried or left: the retry policy's count survives a crash.
        #[cfg(feature = "durable")]
        if let Some(d) = &self.durable {
            d.attempted(msg.id, msg.attempt);
        }
        // Count and log the failure (the log formats user code: guarded).
        count_failure(w, &self.metrics, &failure, retry_after.is_none());
        tracing::warn!(
            queue = %self.name, worker, msg_id = msg.id, attempt = msg.attempt,
            "mq: handler failed: {}", failure.describe()
        );
        let after = match retry_after {
            Some(after) => {
                drop_failure(failure, self.name);
                after
            }
            None => {
                #[cfg(feature = "durable")]
                let id = msg.id;
                self.dead_letter(msg, DeadLetterReason::from_failure(failure));
                #[cfg(feature = "durable")]
                if let Some(d) = &self.durable {
                    d.done(id);
                }
                WorkerStats::bump(&w.dead_lettered);
                self.metrics.dead_lettered();
                WorkerStats::bump(&w.finished);
                return Next::Done;
            }
        };
        if self.past_deadline() {
            self.abandon(w, msg);
            return Next::Done;
        }
        WorkerStats::bump(&w.retried);
        self.metrics.retried();
        let due = Instant::now() + after;
        msg.attempt += 1;
        let job = Retry {
            core: self.clone(),
            msg,
        };
        // Relaxed: read under the timer lock (see `mark_stopping`).
        match self
            .timer
            .schedule(due, job, || self.stopping.load(Ordering::Relaxed))
        {
            Ok(()) => {
                WorkerStats::bump(&w.finished);
                Next::Done
            }
            Err(job) => Next::RetryHere(job.msg, due),
        }
    }

    pub(crate) fn dead_letter(&self, msg: Msg<T>, reason: DeadLetterReason) {
        if self.dead_letter.is_none() {
            tracing::error!(
                queue = %self.name, msg_id = msg.id, attempts = msg.attempt,
                "mq: message dead-lettered (no dead-letter handler)"
            );
        }
        self.to_dead_letter_handler(msg, reason, "a dead-lettered message");
    }

    /// A message the drop-oldest policy pushed out of the full queue (`seq` is its slot's
    /// sequence number): counted, logged, and given to the dead-letter handler if any.
    #[cold]
    pub(crate) fn displaced(&self, seq: u64, env: Envelope<T>) {
        // Relaxed: a counter for snapshots; publishers on several threads add to it.
        self.stats.displaced.fetch_add(1, Relaxed);
        let msg = env.into_msg(seq, self.name);
        tracing::warn!(
            queue = %self.name, msg_id = msg.id,
            "mq: message displaced by a newer one (drop-oldest overflow)"
        );
        self.to_dead_letter_handler(msg, DeadLetterReason::Displaced, "a displaced message");
    }

    /// Runs the dead-letter handler on `msg` (guarded: a panic there is logged), or drops it
    /// (guarded too) when there is none.
    fn to_dead_letter_handler(&self, msg: Msg<T>, reason: DeadLetterReason, what: &'static str) {
        let id = msg.id;
        match &self.dead_letter {
            None => {
                drop_quietly(msg, self.name, what);
                drop_quietly(reason, self.name, "a handler's error");
            }
            Some(handler) => {
                if let Err(p) = user_code::call_quietly(|| handler(msg, reason)) {
                    tracing::error!(
                        queue = %self.name, msg_id = id,
                        "mq: dead-letter handler panicked: {}", panic_text(&*p)
                    );
                    user_code::drop_payload(p);
                }
            }
        }
    }
}

/// Counts a failed attempt: as failed, panicked or timed out, and as a skipped retry when it
/// asked not to be retried (`last`: it is dead-lettered now). Local and remote workers alike.
pub(crate) fn count_failure(
    w: &WorkerStats,
    metrics: &QueueMetrics,
    failure: &user_code::Failure,
    last: bool,
) {
    match failure {
        user_code::Failure::Error(_) => {
            WorkerStats::bump(&w.failed);
            metrics.failed();
            if last && failure.skips_retry() {
                WorkerStats::bump(&w.skipped_retry);
            }
        }
        user_code::Failure::Panic(_) => {
            WorkerStats::bump(&w.panicked);
            metrics.panicked();
        }
        user_code::Failure::TimedOut(_) => {
            WorkerStats::bump(&w.timed_out);
            metrics.timed_out();
        }
    }
}

/// Whether the calling thread is polling one of `core`'s async handlers.
#[cfg(feature = "tokio")]
fn in_async_handler<T>(core: &QueueCore<T>) -> bool {
    super::async_pool::polling_handler_of(core as *const QueueCore<T> as usize)
}

#[cfg(not(feature = "tokio"))]
fn in_async_handler<T>(_core: &QueueCore<T>) -> bool {
    false
}

/// Leaves the live count when a worker ends.
pub(crate) struct LiveGuard<T>(Arc<QueueCore<T>>);

impl<T> Drop for LiveGuard<T> {
    fn drop(&mut self) {
        let core = &self.0;
        core.live
            .leave(&core.stats.workers, || close_log_if_stopped(core));
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
        env.set_not_before(not_before);
        match core.queue.chan.try_send(env) {
            Ok(_) => {
                core.stats.requeued.fetch_add(1, Relaxed);
                None
            }
            Err(TrySendError::Full(env)) => {
                let msg = env.into_msg(0, core.name);
                Some(Box::new(Retry { core, msg }))
            }
            Err(TrySendError::Closed(env)) => {
                // Cannot happen (queues close only after the timer is flushed), but never lose it.
                core.requeue_to_left(env.into_msg(0, core.name));
                None
            }
        }
    }

    fn park(self: Box<Self>, not_before: Instant) {
        let Retry { core, msg } = *self;
        let mut env = msg.into_envelope();
        env.set_not_before(Some(not_before));
        core.park(env);
    }

    fn give_up(self: Box<Self>) {
        self.core.requeue_to_left(self.msg);
    }
}
