//! The MQ layer's only reads of the clock that decide anything: "has this deadline passed?",
//! "wait on this condition variable until notified or the deadline", "sleep until then".
//!
//! Loom has no clock (its `Condvar::wait_timeout` never times out, it just waits), so under
//! `--cfg loom` every deadline counts as already passed and sleeps return at once. The models
//! therefore explore a `stop_timeout` whose deadline passes at its first look (the instant
//! where a racing handler matters) and deadline-free paths; they do not explore a deadline that
//! passes in the middle of a wait.

use std::sync::PoisonError;
use std::time::Instant;

use crate::sync::{Condvar, MutexGuard};

/// Whether `deadline` has passed.
#[cfg(not(loom))]
pub(crate) fn passed(deadline: Instant) -> bool {
    Instant::now() >= deadline
}

/// Under loom a deadline has always passed.
#[cfg(loom)]
pub(crate) fn passed(_deadline: Instant) -> bool {
    true
}

/// Waits on `cv` (which releases `guard`) until notified, spuriously woken, or `deadline`.
/// Returns the guard and whether the deadline had passed before the wait (the caller re-checks
/// its condition in both cases and stops waiting once it is `true`).
#[cfg(not(loom))]
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Instant,
) -> (MutexGuard<'a, T>, bool) {
    let now = Instant::now();
    if now >= deadline {
        return (guard, true);
    }
    let guard = cv
        .wait_timeout(guard, deadline - now)
        .unwrap_or_else(PoisonError::into_inner)
        .0;
    (guard, false)
}

/// Under loom the deadline has passed: no wait.
#[cfg(loom)]
pub(crate) fn wait_until<'a, T>(
    _cv: &Condvar,
    guard: MutexGuard<'a, T>,
    _deadline: Instant,
) -> (MutexGuard<'a, T>, bool) {
    (guard, true)
}

/// Waits on `cv` until notified (or spuriously woken).
pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    cv.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// Sleeps the thread until `t`.
#[cfg(not(loom))]
pub(crate) fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Under loom the time has come.
#[cfg(loom)]
pub(crate) fn sleep_until(_t: Instant) {}
