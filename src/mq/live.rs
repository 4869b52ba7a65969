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
//! 3. An async waiter ([`LiveWorkers::exited_or_listen`], `stop_async`) registers its listener
//!    *before* it reads the count; `leave` notifies the event after its decrement, under the
//!    mutex the read also takes. So a decrement the read missed is followed by a notification
//!    the listener receives (loom model `stop_async_waits_for_the_worker`).
//! 4. The `workers` gauge of the stats (a std atomic, like every statistic: see `stats.rs`) is
//!    written under the same mutex, so it never runs ahead of the count.

use std::sync::PoisonError;
use std::time::Instant;

use super::clock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sync::event::{Event, Listener};
use crate::sync::{Condvar, Mutex, MutexGuard};

/// Workers alive now, and the condition variable (threads) and event (futures) their exits
/// signal.
#[derive(Debug, Default)]
pub(crate) struct LiveWorkers {
    count: Mutex<usize>,
    exited: Condvar,
    exited_async: Event,
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
            // Invariant 3: after the decrement, under the mutex.
            self.exited_async.notify_all();
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

    /// For an async wait: `Ok` if at most `own` workers are alive, else a listener that is
    /// notified by a later exit (await it, then ask again).
    pub(crate) fn exited_or_listen(&self, own: usize) -> Result<(), Listener> {
        // Invariant 3: listen first, then read the count.
        let listener = self.exited_async.listen();
        if *self.lock() <= own {
            Ok(())
        } else {
            Err(listener)
        }
    }

    /// Workers alive now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn get(&self) -> usize {
        *self.lock()
    }
}
