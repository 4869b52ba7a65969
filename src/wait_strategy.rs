//! How a blocking call waits for its counterpart: spin, then park (the default), park at
//! once, or spin without ever parking.
//!
//! A park and a wake-up cost several microseconds (a futex round trip, and a notification the
//! counterpart must send); a spin costs a core while it lasts. The default spins up to
//! [`WaitStrategy::DEFAULT_SPIN`] with `spin_loop` hints only (no `sched_yield`, which hands the
//! CPU to a co-tenant on a shared machine), then parks. [`WaitStrategy::BusySpin`] is the
//! Disruptor's busy-spin strategy: the lowest latency, one core burnt per waiting thread, for a
//! thread pinned to a core of its own. The strategy is a property of the queue (all its
//! handles), can be changed at any time, and is read only on the slow path of a blocking call
//! (never by a call that completes at once). Async calls never spin: they return `Pending`.

use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// How blocking receives and sends of one queue wait ([`Queue::set_wait_strategy`]).
///
/// [`Queue::set_wait_strategy`]: crate::Queue::set_wait_strategy
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Spin for up to this long, then park (the default: [`WaitStrategy::DEFAULT_SPIN`]).
    /// `Spin(Duration::ZERO)` parks at once.
    Spin(Duration),
    /// Never park: spin until the call completes, is closed, or its deadline passes. Burns a
    /// core per waiting thread; for threads pinned to cores of their own.
    BusySpin,
}

impl WaitStrategy {
    /// The default spin before parking: long enough to bridge a round trip to another core and
    /// short gaps, short enough that a waiter with nothing coming gives its core back quickly.
    pub const DEFAULT_SPIN: Duration = Duration::from_micros(20);

    /// Park at once (no spin).
    pub const PARK: WaitStrategy = WaitStrategy::Spin(Duration::ZERO);
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::Spin(Self::DEFAULT_SPIN)
    }
}

/// The strategy of one queue, as a spin budget in nanoseconds (`u64::MAX`: busy spin).
#[derive(Debug)]
pub(crate) struct SpinBudget(AtomicU64);

impl SpinBudget {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(Self::encode(WaitStrategy::default())))
    }

    fn encode(w: WaitStrategy) -> u64 {
        match w {
            WaitStrategy::Spin(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1),
            WaitStrategy::BusySpin => u64::MAX,
        }
    }

    pub(crate) fn set(&self, w: WaitStrategy) {
        // Relaxed: a tuning knob; a waiter that reads the old value waits the old way once.
        self.0.store(Self::encode(w), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> WaitStrategy {
        // Relaxed: as `set`.
        match self.0.load(Ordering::Relaxed) {
            u64::MAX => WaitStrategy::BusySpin,
            ns => WaitStrategy::Spin(Duration::from_nanos(ns)),
        }
    }

    /// The spin budget: `None` spins without limit.
    pub(crate) fn budget(&self) -> Option<Duration> {
        match self.get() {
            WaitStrategy::BusySpin => None,
            WaitStrategy::Spin(d) => Some(d),
        }
    }
}
