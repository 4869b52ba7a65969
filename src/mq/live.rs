//! The live-worker count of one queue: how `stop` knows that every worker has exited.
//!
//! # Invariants
//!
//! 1. A worker enters the count *before* it is spawned ([`LiveWorkers::enter`], called by the
//!    spawner), so a stop that starts right after `start` returned waits for it; it leaves
//!    exactly once, when its [`LiveGuard`](super::core::LiveGuard) drops (end of the thread or
//!    task, unwinding or cancelled included). A worker that could not be spawned leaves at once.
//! 2. The count changes only under its mutex, and every decrement that brings it to 1 or 0
//!    notifies, so a waiter that waits for "at most `own`" (0, or 1 when `stop` runs inside one
//!    of this queue's handlers and must not wait for itself) never misses its wake-up.
//! 3. The `workers` gauge of the stats (a std atomic, like every statistic: see `stats.rs`) is
//!    written under the same mutex, so it never runs ahead of the count.

use std::sync::PoisonError;
use std::time::Instant;

use super::clock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sync::{Condvar, Mutex, MutexGuard};

/// Workers alive now, and the condition variable their exits signal.
#[derive(Debug, Default)]
pub(crate) struct LiveWorkers {
    count: Mutex<usize>,
    exited: Condvar,
}

impl LiveWorkers {
    fn lock(&self) -> MutexGuard<'_, usize> {
        // No user code runs under this lock; a poisoned count is still a count.
        self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more worker (before it is spawned). Writes the new count into `gauge`.
    pub(crate) fn enter(&self, gauge: &AtomicUsize) {
        let mut n = self.lock();
        *n += 1;
        // Relaxed: the gauge is a statistic; the count itself is read under the mutex.
        gauge.store(*n, Ordering::Relaxed);
    }

    /// One worker fewer (it exited, or was never spawned). `on_last` runs when the count
    /// reaches 0, before anyone waiting is woken (so a stop that sees no worker sees its
    /// effect).
    pub(crate) fn leave(&self, gauge: &AtomicUsize, on_last: impl FnOnce()) {
        let mut n = self.lock();
        *n -= 1;
        // Relaxed: as in `enter`.
        gauge.store(*n, Ordering::Relaxed);
        if *n == 0 {
            on_last();
        }
        if *n <= 1 {
            // 1 included: a stop called from inside a handler waits for "at most 1".
            self.exited.notify_all();
        }
    }

    /// Waits until at most `own` workers are alive (the caller's own worker, if it is one), or
    /// until `deadline`; `true` if they have exited.
    pub(crate) fn wait_exited(&self, own: usize, deadline: Option<Instant>) -> bool {
        let mut n = self.lock();
        while *n > own {
            match deadline {
                None => n = clock::wait(&self.exited, n),
                Some(d) => {
                    let (guard, passed) = clock::wait_until(&self.exited, n, d);
                    n = guard;
                    if passed && *n > own {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Workers alive now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn get(&self) -> usize {
        *self.lock()
    }
}
