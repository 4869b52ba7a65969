//! The one place that names concurrency primitives.
//!
//! Every atomic, `UnsafeCell`, `Arc`, mutex, condition variable, thread, spin-wait and wake-up
//! event used by segmq's concurrent code comes from here, so that loom can swap all of them.
//!
//! # How loom is wired, and why (design (b))
//!
//! The primitives switch on **`--cfg loom`**, a compiler flag, exactly as tokio and
//! concurrent-queue do; the `loom` *cargo feature* only enables the model target
//! (`loom-tests/`). Two reasons decide it:
//!
//! 1. **The real wake-up primitive is modelled.** event-listener (and its `parking`) switch to
//!    loom only on `cfg(loom)`, so under the flag the models run segmq's waiting layer against
//!    the event-listener that ships, not a stand-in written to match our expectations of it.
//!    `event_listener::Listener::wait_deadline` panics under loom (loom has no clock), so only
//!    that call is modelled here: a deadline wait "times out at once", keeping a notification
//!    that had already arrived; that is the instant at which the last look after a timeout
//!    matters, and loom explores every placement of the counterpart around it.
//! 2. **The feature cannot poison a build.** Cargo unifies features across a dependency graph,
//!    and `--all-features` is what cargo-hack, rust-analyzer and docs.rs build. A feature that
//!    swapped the primitives would hand those users a crate whose every type panics outside
//!    `loom::model`. A cfg is never unified: with `--features loom` (or `--all-features`) the
//!    crate is the normal crate (`tests/all_features.rs` checks it).
//!
//! `cargo test --features loom` therefore works as a user types it: the `loom` test target,
//! built without the flag, is a driver that runs the models in a second build with
//! `RUSTFLAGS="--cfg loom"` in its own target directory (`target/loom`), streams their output,
//! and fails if any model fails or the run exceeds its time limit (`loom-tests/driver.rs`).
//!
//! Under loom, blocks shrink to 3 slots (`flavor/unbounded/block.rs`) and every back-off is a
//! `loom::thread::yield_now()`, so spin loops let the model run the thread being waited for, and
//! the "spin a little before parking" phase is skipped (`spin_before_park` parks at once).

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard, WaitTimeoutResult};
    pub(crate) use std::thread;

    /// `std::cell::UnsafeCell` with loom's closure-based access API.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[allow(dead_code)]
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Exponential backoff for short waits on another thread's in-progress step.
    #[derive(Debug, Default)]
    pub(crate) struct Backoff(crossbeam_utils::Backoff);

    impl Backoff {
        #[inline]
        pub(crate) fn new() -> Self {
            Self(crossbeam_utils::Backoff::new())
        }
        /// Backs off in a lock-free retry loop (a lost CAS race).
        #[inline]
        pub(crate) fn spin(&self) {
            self.0.spin()
        }
        /// Backs off while waiting for another thread to finish a step (spins, then yields).
        #[inline]
        pub(crate) fn snooze(&self) {
            self.0.snooze()
        }
    }

    /// Waits for `ready` to return `Some` without parking, for at most `budget` (`None`: no
    /// limit) or until `deadline`; `None` means "park now". Two phases: growing runs of
    /// `spin_loop` hints (1, 2, ..., 64: about 127 hints, a few microseconds, which covers a
    /// round trip to another core) and then `yield_now` between looks until the budget is
    /// spent, so a waiter on an oversubscribed machine hands its core to the thread it waits
    /// for instead of burning it (a hint-only spin made bounded MPSC 4:1 ten times slower
    /// here). The clock is read only in the second phase.
    #[inline]
    pub(crate) fn spin_before_park<R>(
        budget: Option<std::time::Duration>,
        deadline: Option<std::time::Instant>,
        mut ready: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if budget == Some(std::time::Duration::ZERO) {
            return None;
        }
        let mut run = 1u32;
        while run <= 64 {
            for _ in 0..run {
                std::hint::spin_loop();
            }
            if let Some(done) = ready() {
                return Some(done);
            }
            run *= 2;
        }
        let start = std::time::Instant::now();
        let spun = budget.and_then(|b| start.checked_add(b));
        let end = match (spun, deadline) {
            (Some(s), Some(d)) => Some(s.min(d)),
            (s, d) => s.or(d),
        };
        loop {
            std::thread::yield_now();
            if let Some(done) = ready() {
                return Some(done);
            }
            if end.is_some_and(|end| std::time::Instant::now() >= end) {
                return None;
            }
        }
    }

    /// Blocks on `listener` until notified or `deadline`; `true` if notified.
    pub(crate) fn wait_listener_deadline(
        listener: event_listener::EventListener,
        deadline: std::time::Instant,
    ) -> bool {
        use event_listener::Listener as _;
        listener.wait_deadline(deadline).is_some()
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard, WaitTimeoutResult};
    pub(crate) use loom::thread;

    /// Under loom every back-off is a yield, so the model can run the thread being waited for.
    #[derive(Debug, Default)]
    pub(crate) struct Backoff;

    impl Backoff {
        pub(crate) fn new() -> Self {
            Self
        }
        pub(crate) fn spin(&self) {
            loom::thread::yield_now()
        }
        pub(crate) fn snooze(&self) {
            loom::thread::yield_now()
        }
    }

    /// Models skip the spin before parking (it only adds states): park at once.
    pub(crate) fn spin_before_park<R>(
        _budget: Option<std::time::Duration>,
        _deadline: Option<std::time::Instant>,
        _ready: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        None
    }

    /// The deadline passes at once (loom has no clock): a notification that already arrived,
    /// or that lands before the listener is removed, is consumed and reported (`true`), as the
    /// real `wait_deadline` reports a notification that raced its timer; otherwise the wait
    /// timed out (`false`) and no notification was taken.
    pub(crate) fn wait_listener_deadline(
        mut listener: event_listener::EventListener,
        _deadline: std::time::Instant,
    ) -> bool {
        use event_listener::Listener as _;
        use std::future::Future as _;
        struct NoWake;
        impl std::task::Wake for NoWake {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        let waker = std::task::Waker::from(std::sync::Arc::new(NoWake));
        let mut cx = std::task::Context::from_waker(&waker);
        // Not notified yet: the deadline passes now. `discard` removes the listener and says
        // whether a notification raced in meanwhile (then it is consumed, as the real
        // `wait_deadline` reports a notification that arrives as it removes its entry).
        std::pin::Pin::new(&mut listener).poll(&mut cx).is_ready() || listener.discard()
    }
}

pub(crate) mod event {
    //! `event-listener` v5 behind segmq's narrow interface (loom-backed under `--cfg loom`).
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use event_listener::{IntoNotification, Listener as _};

    /// A set of parked waiters, notified in FIFO order.
    #[derive(Debug, Default)]
    pub(crate) struct Event(event_listener::Event);

    impl Event {
        pub(crate) fn new() -> Self {
            Self(event_listener::Event::new())
        }

        /// Registers a listener. A notification issued after this returns reaches it.
        pub(crate) fn listen(&self) -> Listener {
            Listener(self.0.listen())
        }

        /// Wakes `n` more listeners that have not been notified yet; returns how many it woke
        /// (fewer when fewer listeners are waiting un-notified).
        ///
        /// No fence: callers only notify after an acquiring read-modify-write of the waiter
        /// count that the listener's owner released after its latest `listen()`, so the
        /// registration happens-before this call, in every round of a wait (see
        /// `flavor/mod.rs`, "Waiter counts").
        #[inline]
        pub(crate) fn notify_more(&self, n: usize) -> usize {
            self.0.notify(n.additional().relaxed())
        }

        /// Wakes every listener (with a `SeqCst` fence first).
        pub(crate) fn notify_all(&self) {
            self.0.notify(usize::MAX);
        }
    }

    /// A registered interest in an [`Event`]; a future and a blocking waiter.
    ///
    /// Dropping a listener that was notified but did not consume the notification passes it on
    /// to another listener (event-listener's contract), which the cancel-safety of segmq's
    /// futures relies on.
    #[derive(Debug)]
    pub(crate) struct Listener(event_listener::EventListener);

    impl Listener {
        /// Blocks the thread until notified (the notification is consumed).
        pub(crate) fn wait(self) {
            self.0.wait()
        }

        /// Blocks until notified or `deadline`; `true` if notified (the notification is then
        /// consumed; on `false` none arrived before the listener was removed).
        pub(crate) fn wait_deadline(self, deadline: Instant) -> bool {
            super::imp::wait_listener_deadline(self.0, deadline)
        }

        /// Removes the listener *without* passing on a notification it holds; `true` if it
        /// held one (so the caller knows it was woken, and decides where the wake-up goes).
        pub(crate) fn discard(self) -> bool {
            self.0.discard()
        }
    }

    impl Future for Listener {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(&mut self.0).poll(cx)
        }
    }
}

// The MQ layer's primitives (`Mutex`, `Condvar`, `thread`, ...) are re-exported for it even where
// a build does not use every one of them.
#[allow(unused_imports)]
pub(crate) use imp::{
    spin_before_park, thread, Arc, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    Backoff, Condvar, Mutex, MutexGuard, Ordering, UnsafeCell, WaitTimeoutResult,
};
