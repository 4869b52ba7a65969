//! Retries: the [`RetryPolicy`], and the one timer thread per [`Mq`](crate::Mq) that puts due
//! retries back into their queue. Delayed publishes (`delay.rs`) wait in the same timer, as
//! another kind of [`Pending`] job: at stop they are pushed if due and handed back if not.
//!
//! # Design
//!
//! A failed message with attempts left must not hold its worker while it waits, so the worker
//! hands it to the timer and takes the next message. The timer is a `BinaryHeap` ordered by due
//! time under a `Mutex`, and a thread that sleeps on a `Condvar` until the earliest due time,
//! then pushes the message back into its queue (a lock-free push, done while holding the timer
//! lock, see below). This is off the publish path: the lock is taken only by failing messages.
//! The thread is spawned on the first retry, so an `Mq` without failures has none.
//!
//! # Stop
//!
//! A graceful stop must not lose a waiting retry, and it must close the queues. Under the timer
//! lock, stop marks every queue "stopping" and pushes every waiting retry back into its queue
//! with a `not_before` time (the worker that takes it waits until then); only then are the
//! queues closed. A worker that wants to schedule a retry checks "stopping" under the same lock;
//! if it is set, the worker keeps the message and retries it itself after the backoff. Since the
//! timer pushes under that lock too, nothing is ever pushed into a closed queue.
//!
//! A retry that meets a full bounded queue at stop is not waited for: it is *parked* beside the
//! queue, and the workers take parked retries once the queue is closed and empty. (Waiting for
//! room deadlocked: a handler blocked publishing into its own full queue waits for the close,
//! which came only after the wait.) Parking happens before the close, and a worker sees "closed
//! and empty" only after the close, so no worker exits while a parked retry is still to come.
//!
//! The lock, the condition variable and the thread come from `crate::sync`, so the loom models
//! (`loom-tests/mq.rs`) explore the hand-off between a due retry and a beginning stop. The
//! timer's own waits use the condition variable's `wait_timeout` directly: under loom it waits
//! until notified (every shutdown notifies), which is all the models need.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crate::sync::{thread, Condvar, Mutex, MutexGuard};

/// How often a message is tried, and how long to wait between tries.
///
/// The default is [`RetryPolicy::none`]: one attempt, then the dead-letter handler.
///
/// ```
/// use std::time::Duration;
/// use segmq::RetryPolicy;
///
/// // Up to 5 attempts: waits of about 100 ms, 200 ms, 400 ms, 800 ms (each between half and all
/// // of that, by jitter), never more than 2 s.
/// let policy = RetryPolicy::exponential(5, Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(policy.max_attempts(), 5);
/// let fixed = RetryPolicy::fixed(3, Duration::from_millis(10));
/// assert_eq!(fixed.delay(1), Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a retry policy does nothing until passed to `QueueOptions::retry`"]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Backoff {
    Fixed(Duration),
    Exponential {
        base: Duration,
        max: Duration,
        jitter: bool,
    },
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    ///
    /// ```
    /// assert_eq!(segmq::RetryPolicy::none().max_attempts(), 1);
    /// ```
    pub fn none() -> Self {
        Self::fixed(1, Duration::ZERO)
    }

    /// Up to `max_attempts` attempts in all (0 counts as 1), `delay` apart.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = segmq::RetryPolicy::fixed(3, Duration::from_millis(5));
    /// assert_eq!(p.delay(2), Duration::from_millis(5));
    /// ```
    pub fn fixed(max_attempts: u32, delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Fixed(delay),
        }
    }

    /// Up to `max_attempts` attempts; the wait after attempt `n` is `base * 2^(n-1)`, capped at
    /// `max_delay`, with "equal jitter" (a uniformly random point in its upper half) so that
    /// messages that failed together do not come back together.
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = segmq::RetryPolicy::exponential(4, Duration::from_millis(10), Duration::from_millis(25))
    ///     .without_jitter();
    /// assert_eq!(p.delay(1), Duration::from_millis(10));
    /// assert_eq!(p.delay(2), Duration::from_millis(20));
    /// assert_eq!(p.delay(3), Duration::from_millis(25));
    /// ```
    pub fn exponential(max_attempts: u32, base: Duration, max_delay: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Exponential {
                base,
                max: max_delay,
                jitter: true,
            },
        }
    }

    /// Turns the jitter of an exponential policy off (for tests and reproducible demos).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = segmq::RetryPolicy::exponential(2, Duration::from_millis(1), Duration::from_secs(1));
    /// assert_eq!(p.without_jitter().delay(1), Duration::from_millis(1));
    /// ```
    pub fn without_jitter(mut self) -> Self {
        if let Backoff::Exponential { jitter, .. } = &mut self.backoff {
            *jitter = false;
        }
        self
    }

    /// Attempts in all, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        match self.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Exponential { base, max, .. } => {
                let factor = 1u32 << attempt.saturating_sub(1).min(31);
                base.checked_mul(factor).unwrap_or(max).min(max)
            }
        }
    }

    /// The wait after failed attempt `attempt`, with jitter if the policy has it.
    pub(crate) fn jittered_delay(&self, attempt: u32, rng: &mut XorShift) -> Duration {
        let d = self.delay(attempt);
        match self.backoff {
            Backoff::Exponential { jitter: true, .. } => {
                let half = d / 2;
                let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
                half + Duration::from_nanos(rng.next() % nanos.saturating_add(1))
            }
            _ => d,
        }
    }
}

/// A tiny xorshift64* generator for jitter (no `rand` dependency; not for anything secret).
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        Self((seed ^ nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A retry waiting in the timer, with its queue erased.
pub(crate) trait Pending: Send {
    /// Pushes the message back into its queue. Returns it if the queue is full (try later).
    fn requeue(self: Box<Self>, not_before: Option<Instant>) -> Option<Box<dyn Pending>>;
    /// Parks the message beside its queue at stop, when the queue was full: the workers take
    /// it once the queue is closed and empty (waiting for room could wait for ever: a handler
    /// may be blocked publishing into the same full queue until it is closed).
    fn park(self: Box<Self>, not_before: Instant);
    /// Puts the message into its queue's leftover store (it could not be requeued at stop).
    fn give_up(self: Box<Self>);
}

struct Entry {
    due: Instant,
    order: u64,
    job: Box<dyn Pending>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.order) == (other.due, other.order)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that the `BinaryHeap` (a max-heap) pops the earliest due time first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.order).cmp(&(self.due, self.order))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Entry>,
    next_order: u64,
    shutdown: bool,
    thread: Option<thread::JoinHandle<()>>,
}

/// How long a retry refused by a full bounded queue waits before the next attempt.
const FULL_RETRY: Duration = Duration::from_millis(1);

/// The retry timer of one `Mq`.
#[derive(Default)]
pub(crate) struct RetryTimer {
    state: Mutex<State>,
    wake: Condvar,
}

impl RetryTimer {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing user-written runs under this lock except the requeue push; a poisoned lock
        // still holds a consistent heap.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Schedules `job` for `due`, unless `stopping()` (read under the timer lock) says the
    /// queue is stopping, or the timer thread cannot be spawned: then the job comes back and
    /// the caller retries it itself.
    pub(crate) fn schedule<J: Pending + 'static>(
        self: &Arc<Self>,
        due: Instant,
        job: J,
        stopping: impl FnOnce() -> bool,
    ) -> Result<(), J> {
        let mut st = self.lock();
        if stopping() || st.shutdown {
            return Err(job);
        }
        if st.thread.is_none() {
            let timer = Arc::clone(self);
            match thread::Builder::new()
                .name("segmq-retry".into())
                .spawn(move || timer.run())
            {
                Ok(t) => st.thread = Some(t),
                Err(e) => {
                    tracing::error!(
                        "mq: cannot spawn the retry timer thread ({e}): retrying in place"
                    );
                    return Err(job);
                }
            }
        }
        let order = st.next_order;
        st.next_order += 1;
        st.heap.push(Entry {
            due,
            order,
            job: Box::new(job),
        });
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// Runs `mark` (which marks queues as stopping) under the timer lock, then pushes every
    /// waiting retry back into its queue with its due time as `not_before`. Retries that meet
    /// a full bounded queue are returned with their due time, for the caller to park (or give
    /// up, if nothing will run them): waiting for room could wait for ever.
    #[must_use = "retries that did not fit must still be requeued or given up"]
    pub(crate) fn flush_for_stop(&self, mark: impl FnOnce()) -> Vec<(Instant, Box<dyn Pending>)> {
        let mut st = self.lock();
        mark();
        let mut refused = Vec::new();
        while let Some(e) = st.heap.pop() {
            if let Some(job) = e.job.requeue(Some(e.due)) {
                refused.push((e.due, job));
            }
        }
        refused
    }

    /// Ends the timer thread (the heap is empty after `flush_for_stop`) and joins it.
    pub(crate) fn shutdown(&self) {
        let thread = {
            let mut st = self.lock();
            st.shutdown = true;
            st.thread.take()
        };
        self.wake.notify_all();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }

    fn run(&self) {
        let mut st = self.lock();
        loop {
            if st.shutdown {
                return;
            }
            let now = Instant::now();
            match st.heap.peek().map(|e| e.due) {
                None => {
                    st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                }
                Some(due) if due <= now => {
                    // Requeue everything due now; a bounded queue may refuse some (full).
                    let mut refused = Vec::new();
                    while st.heap.peek().is_some_and(|e| e.due <= now) {
                        let e = st.heap.pop().expect("peeked");
                        if let Some(job) = e.job.requeue(None) {
                            refused.push(job);
                        }
                    }
                    if !refused.is_empty() {
                        let again = Instant::now() + FULL_RETRY;
                        for job in refused {
                            let order = st.next_order;
                            st.next_order += 1;
                            st.heap.push(Entry {
                                due: again,
                                order,
                                job,
                            });
                        }
                        // Release the lock before trying again: the workers that make room
                        // take it to schedule their own retries. (Looping here while the
                        // round took longer than `FULL_RETRY` livelocked a loaded machine.)
                        st = self
                            .wake
                            .wait_timeout(st, FULL_RETRY)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                }
                Some(due) => {
                    st = self
                        .wake
                        .wait_timeout(st, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let p = RetryPolicy::exponential(10, Duration::from_millis(8), Duration::from_secs(1));
        let mut rng = XorShift::new(7);
        for attempt in 1..10 {
            let full = p.delay(attempt);
            for _ in 0..100 {
                let d = p.jittered_delay(attempt, &mut rng);
                assert!(d >= full / 2 && d <= full, "{d:?} vs {full:?}");
            }
        }
    }
}
