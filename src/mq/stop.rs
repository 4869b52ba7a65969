//! The lifecycle of an [`Mq`] (start, stop, stop with a deadline, drop) as a small state
//! machine, and the stop procedure built on it.
//!
//! # States
//!
//! `Idle -> Running -> Closing -> Closed`, or `Idle -> Closing -> Closed` (stopped before it was
//! started). The state lives in the registry mutex, beside the list of queues.
//!
//! # Invariants
//!
//! 1. The state only moves forward, and only under the registry mutex.
//! 2. Queues are started only while the state is `Running`, under the same mutex that moves it
//!    there: `start` starts the queues registered before it, `register` starts its queue itself
//!    if the state is already `Running`. So a `register` racing `start` starts each queue's
//!    workers exactly once. Registration is refused once the state is `Closing` or `Closed`:
//!    checked when it begins and again, under the same lock, when it inserts the queue (its
//!    slow part, a durable log's recovery, runs unlocked in between), so a stop never misses a
//!    queue it should join.
//! 3. Exactly one stop call, the one that moves the state to `Closing`, performs the *close*:
//!    under the timer lock it marks every queue stopping and flushes the waiting retries (a
//!    retry that meets a full queue is parked, see `retry.rs`) and delayed messages (pushed if
//!    due, handed back as leftovers if not: `delay.rs`); then it closes the queues, and
//!    if the `Mq` was never started (`was_running` is recorded once, by that transition)
//!    empties them into the leftovers. Every other stop call waits until the state is `Closed`
//!    before it looks at any queue, so none of them can mistake a running `Mq` for one that
//!    never started (the second of two concurrent stops drained the first one's work).
//! 4. A stop's deadline is recorded in every queue *before* the close (or the wait for it), so
//!    every worker that sees the queue closed also sees the deadline.
//! 5. After the close, every stop call waits for the workers on its own terms (its own
//!    deadline; never for the worker it runs on, when called from inside a handler; inside an
//!    async handler in `block_in_place`, and not at all on a current-thread runtime, whose
//!    other tasks need the blocked thread), and joins them only once they have all exited.
//!    Once every worker has exited, whatever is still in a queue (only possible if workers
//!    died: a task runtime shut down, a bug) is moved to the leftovers and reported, never
//!    dropped silently.
//! 6. Whether the latest stop timed out is remembered: `Drop` after such a stop does not wait
//!    for the workers (a stuck handler would block it for ever); it detaches the busy threads
//!    and reports them in the log.
//!
//! 7. A blocking stop on a current-thread tokio runtime that runs one of the `Mq`'s async
//!    queues panics (naming `stop_async`) before it changes anything; `Drop` there closes and
//!    does not wait. `stop_async.rs` runs the same close and report with an awaited wait.
//!
//! Deadline waits go through `clock.rs`, the one place that is stubbed under loom.

use std::sync::Arc;
use std::time::Instant;

use super::clock;
use super::core::lock;
use super::registry::{ErasedQueue, Mq};
use super::retry::RetryTimer;
use super::{MqError, QueueReport, StopReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    Closing,
    Closed,
}

/// The state of an `Mq`'s lifecycle (kept under the registry mutex).
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    phase: Phase,
    /// Whether the `Mq` was running when the close began (set once, by the closing call).
    was_running: bool,
    /// Whether the latest stop timed out.
    timed_out: bool,
}

/// What a stop call has to do, given the state it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopRole {
    /// This call closes the queues (it moved the state to `Closing`).
    Closer { was_running: bool },
    /// Another call closes (or closed) them: wait for `Closed`.
    Follower,
}

impl Lifecycle {
    pub(crate) const fn new() -> Self {
        Self {
            phase: Phase::Idle,
            was_running: false,
            timed_out: false,
        }
    }

    /// `Idle -> Running`.
    pub(crate) fn start(&mut self) -> Result<(), MqError> {
        match self.phase {
            Phase::Idle => {
                self.phase = Phase::Running;
                Ok(())
            }
            Phase::Running => Err(MqError::AlreadyRunning),
            Phase::Closing | Phase::Closed => Err(MqError::Stopped),
        }
    }

    /// Whether a queue may be registered now, and whether it must start at once.
    pub(crate) fn admits_registration(&self) -> Result<bool, MqError> {
        match self.phase {
            Phase::Idle => Ok(false),
            Phase::Running => Ok(true),
            Phase::Closing | Phase::Closed => Err(MqError::Stopped),
        }
    }

    /// A stop call begins.
    pub(crate) fn begin_stop(&mut self) -> StopRole {
        match self.phase {
            Phase::Idle | Phase::Running => {
                self.was_running = self.phase == Phase::Running;
                self.phase = Phase::Closing;
                StopRole::Closer {
                    was_running: self.was_running,
                }
            }
            Phase::Closing | Phase::Closed => StopRole::Follower,
        }
    }

    /// The closer is done: `Closing -> Closed`.
    pub(crate) fn closed(&mut self) {
        debug_assert_eq!(self.phase, Phase::Closing);
        self.phase = Phase::Closed;
    }

    /// Whether a close is under way (followers wait while it is).
    pub(crate) fn is_closing(&self) -> bool {
        self.phase == Phase::Closing
    }

    /// Whether the `Mq` was running when it was stopped.
    pub(crate) fn was_running(&self) -> bool {
        self.was_running
    }

    /// Records how the latest stop ended.
    pub(crate) fn record_stop(&mut self, timed_out: bool) {
        self.timed_out = timed_out;
    }

    /// Whether the latest stop timed out (drop then does not wait).
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// The state's name, for `Debug`.
    pub(crate) fn name(&self) -> &'static str {
        match self.phase {
            Phase::Idle => "Idle",
            Phase::Running => "Running",
            Phase::Closing => "Stopping",
            Phase::Closed => "Stopped",
        }
    }
}

/// How a stop may wait for the workers on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Block the thread.
    Block,
    /// Block in `tokio::task::block_in_place` (a multi-thread runtime's thread: its queued
    /// tasks, LIFO slot included, move to another thread first).
    #[cfg(feature = "tokio")]
    InPlace,
    /// Do not wait at all: only look (a current-thread runtime whose other tasks need this
    /// thread).
    #[cfg(feature = "tokio")]
    No,
}

/// How this stop may wait (see `async_pool::BlockingWait`). A user's `stop` on a current-thread
/// runtime that runs one of the `Mq`'s async queues would wait for tasks that need the very
/// thread it blocks: that is refused with a panic naming `stop_async`, before anything is
/// stopped. `Drop` cannot panic: it stops without waiting, and logs it.
#[cfg(feature = "tokio")]
fn how_to_wait(queues: &[Arc<dyn ErasedQueue>], caller: Caller) -> Wait {
    use super::async_pool::{blocking_wait, BlockingWait};
    match blocking_wait() {
        BlockingWait::Plain => Wait::Block,
        BlockingWait::InPlace => Wait::InPlace,
        BlockingWait::Impossible => Wait::No,
        BlockingWait::CurrentThread => {
            // Only a queue that still has workers to wait for (a stop after a finished
            // `stop_async`, or before `start`, waits for nothing and is fine).
            let busy = |q: &&Arc<dyn ErasedQueue>| {
                q.on_current_thread_runtime() && q.exited_or_listen().is_err()
            };
            let Some(q) = queues.iter().find(busy) else {
                return Wait::Block;
            };
            if caller == Caller::Drop {
                tracing::error!(
                    queue = q.name(),
                    "mq: dropped inside a current-thread tokio runtime that runs this async \
                     queue: not waiting for its tasks (call `stop_async().await` before the drop)"
                );
                return Wait::No;
            }
            panic!(
                "mq: `stop`/`stop_timeout` called inside a current-thread tokio runtime that runs \
                 the async queue `{}`: blocking this thread would wait for tasks that need it; \
                 use `mq.stop_async().await` or `mq.stop_timeout_async(d).await` instead",
                q.name()
            );
        }
    }
}

#[cfg(not(feature = "tokio"))]
fn how_to_wait(_queues: &[Arc<dyn ErasedQueue>], _caller: Caller) -> Wait {
    Wait::Block
}

/// Who is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// `stop` or `stop_timeout`.
    User,
    /// `Drop for Mq`: does not wait after a stop that timed out.
    Drop,
}

/// The close (invariant 3): mark stopping and flush retries under the timer lock, park or give
/// up the retries that did not fit, close the queues, end the timer thread.
fn close_queues(timer: &RetryTimer, queues: &[Arc<dyn ErasedQueue>], was_running: bool) {
    let refused = timer.flush_for_stop(|| {
        for q in queues {
            q.mark_stopping();
        }
    });
    for (due, job) in refused {
        if was_running {
            job.park(due);
        } else {
            job.give_up();
        }
    }
    for q in queues {
        q.close();
        if !was_running {
            q.drain_to_left();
        }
    }
    // Nothing is scheduled any more once the queues are stopping.
    timer.shutdown();
}

/// A stop between its close and its wait for the workers (`stop_inner`, `stop_async`).
pub(crate) struct Stopping {
    pub(crate) queues: Vec<Arc<dyn ErasedQueue>>,
    was_running: bool,
    no_wait: bool,
    /// The wait's deadline (now, for a drop after a timed-out stop).
    pub(crate) deadline: Option<Instant>,
    left_before: u64,
}

impl Mq {
    pub(crate) fn stop_inner(&self, deadline: Option<Instant>, caller: Caller) -> StopReport {
        // Decided (and a deadlocking `stop` refused) before anything is stopped.
        let queues = lock(&self.registry).queues.clone();
        let how = how_to_wait(&queues, caller);
        drop(queues);
        let stopping = self.close_for_stop(deadline, caller);
        let wait_all = |deadline: Option<Instant>| {
            let mut all_exited = true;
            for q in &stopping.queues {
                all_exited &= q.wait_workers(deadline);
            }
            all_exited
        };
        // Where it cannot wait (a current-thread runtime's handler), it only looks: the
        // workers then finish the closed queue on their own (each within the deadline, which
        // they know), so nothing queued is taken from them either.
        let (all_exited, waited) = match how {
            Wait::Block => (wait_all(stopping.deadline), true),
            #[cfg(feature = "tokio")]
            Wait::InPlace => (
                tokio::task::block_in_place(|| wait_all(stopping.deadline)),
                true,
            ),
            #[cfg(feature = "tokio")]
            Wait::No => (wait_all(Some(Instant::now())), false),
        };
        self.finish_stop(stopping, all_exited, waited)
    }

    /// The first half of a stop: records the deadline, closes the queues (invariants 3 and 4)
    /// or waits for the call that closes them. Blocks only for another call's close (short:
    /// it waits for no worker).
    pub(crate) fn close_for_stop(&self, deadline: Option<Instant>, caller: Caller) -> Stopping {
        let mut reg = lock(&self.registry);
        let queues = reg.queues.clone();
        // Before the deadline is set: a worker may put a message aside as soon as it is (a
        // loom model found a leftover made before a later count, reported as not timed out).
        let left_before: u64 = queues.iter().map(|q| q.left_by_stop()).sum();
        // Invariant 4: the deadline before the close.
        if let Some(d) = deadline {
            for q in &queues {
                q.set_deadline(d);
            }
        }
        match reg.life.begin_stop() {
            StopRole::Closer { was_running } => {
                // Not under the registry lock: handlers may register or inspect meanwhile.
                drop(reg);
                close_queues(&self.timer, &queues, was_running);
                reg = lock(&self.registry);
                reg.life.closed();
                self.closed.notify_all();
            }
            StopRole::Follower => {
                while reg.life.is_closing() {
                    reg = clock::wait(&self.closed, reg);
                }
            }
        }
        let was_running = reg.life.was_running();
        let no_wait = caller == Caller::Drop && reg.life.timed_out();
        drop(reg);
        Stopping {
            queues,
            was_running,
            no_wait,
            deadline: if no_wait {
                Some(Instant::now())
            } else {
                deadline
            },
            left_before,
        }
    }

    /// The second half of a stop, after the wait for the workers (`waited`: false if it only
    /// looked): leftovers, joins, the report (invariants 5 and 6).
    pub(crate) fn finish_stop(
        &self,
        stopping: Stopping,
        all_exited: bool,
        waited: bool,
    ) -> StopReport {
        let Stopping {
            queues,
            was_running,
            no_wait,
            left_before,
            ..
        } = stopping;
        // Workers that met the deadline put their messages aside and exit quickly, so they may
        // all be gone by now: a leftover made during this stop also means "timed out" (unless
        // the `Mq` never ran: then the close itself made them, and no deadline was missed).
        let made_left = queues.iter().map(|q| q.left_by_stop()).sum::<u64>() > left_before;
        let timed_out = !all_exited || (was_running && made_left);
        for q in &queues {
            if timed_out && waited {
                q.drain_to_left();
            }
            if all_exited {
                // Invariant 5: nothing stays in a queue nobody serves.
                let orphans = q.drain_to_left();
                if orphans > 0 && was_running {
                    tracing::error!(
                        queue = q.name(), orphans,
                        "mq: the workers are gone but messages were queued: handed back as leftovers"
                    );
                }
                q.join_exited();
            } else if no_wait {
                let detached = q.detach();
                if detached > 0 {
                    tracing::warn!(
                        queue = q.name(),
                        detached,
                        "mq: dropped after a timed-out stop: busy workers detached"
                    );
                }
            }
        }
        lock(&self.registry).life.record_stop(timed_out);
        let report = StopReport {
            timed_out,
            queues: queues.iter().map(|q| q.report(all_exited)).collect(),
        };
        if !timed_out && !report.is_accounted() {
            tracing::error!(
                ?report,
                "mq: the stop report does not add up (a bug in segmq)"
            );
        }
        report
    }
}

/// One queue's report, from its counters. With every worker exited, a message still counted in
/// a worker was lost with it (unless it is the caller's own, inside a handler).
pub(crate) fn queue_report(
    name: &str,
    s: &super::QueueStats,
    lost: u64,
    own: usize,
    all_exited: bool,
) -> QueueReport {
    let (in_flight, lost) = if all_exited {
        let own = own as u64;
        (s.in_flight.min(own), lost + s.in_flight.saturating_sub(own))
    } else {
        (s.in_flight, lost)
    };
    QueueReport {
        name: name.to_owned(),
        published: s.published,
        handled_ok: s.handled_ok,
        dead_lettered: s.dead_lettered,
        displaced: s.displaced,
        left: s.left,
        in_flight,
        depth: s.depth,
        lost,
        delayed: s.delayed,
    }
}
