//! The one place that names concurrency primitives.
//!
//! Every atomic, `UnsafeCell`, `Arc`, spin-wait and wake-up event used by segmq's concurrent code
//! comes from here. Under the `loom` cargo feature they are swapped for [loom]'s model-checked
//! versions, so `cargo test --release --features loom --test loom` explores every interleaving of
//! the real queue code (see `loom-tests/`).
//!
//! * Atomics, `Arc` and `UnsafeCell` (with loom's `with`/`with_mut` access API on both sides).
//! * [`Backoff`]: `crossbeam_utils::Backoff` normally; under loom every spin is a
//!   `loom::thread::yield_now()`, so that a spin loop lets the model schedule the thread it is
//!   waiting for, and the "spin a little before parking" phase is skipped.
//! * [`event`]: the wake-up primitive. Normally a thin wrapper over `event-listener` v5. Under loom
//!   it is a small stand-in with the same contract, built on loom's `Mutex` and `park`, because
//!   event-listener only switches to loom under `--cfg loom` (a rustflag), and with the plain
//!   feature a model that waits on a real `Event` blocks for ever (see `../shared/notes/tooling.md`).
//!   The real event-listener is covered by the stress tests in `tests/`.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(feature = "loom"))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;

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
        /// Whether spinning longer is pointless and the caller should park instead.
        #[inline]
        pub(crate) fn is_completed(&self) -> bool {
            self.0.is_completed()
        }
    }

    pub(crate) mod event {
        //! `event-listener` v5 behind segmq's narrow interface.
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

            /// Wakes one more listener that has not been notified yet.
            ///
            /// No fence: callers only notify after an acquiring read of the waiter count that
            /// the listener's owner released after `listen()`, so the listener's registration
            /// happens-before this call (see `flavor/mod.rs`, "Waiter counts").
            #[inline]
            pub(crate) fn notify_one_more(&self) {
                self.0.notify(1.additional().relaxed());
            }

            /// Wakes `n` more listeners that have not been notified yet (same contract as
            /// [`notify_one_more`](Self::notify_one_more)).
            #[inline]
            pub(crate) fn notify_more(&self, n: usize) {
                self.0.notify(n.additional().relaxed());
            }

            /// Wakes every listener (with a `SeqCst` fence first).
            pub(crate) fn notify_all(&self) {
                self.0.notify(usize::MAX);
            }
        }

        /// A registered interest in an [`Event`]; a future and a blocking waiter.
        ///
        /// Dropping a listener that was notified but did not consume the notification passes it
        /// on to another listener (event-listener's contract), which the cancel-safety of
        /// segmq's futures relies on.
        #[derive(Debug)]
        pub(crate) struct Listener(event_listener::EventListener);

        impl Listener {
            /// Blocks the thread until notified.
            pub(crate) fn wait(self) {
                self.0.wait()
            }

            /// Blocks until notified or `deadline`; `true` if notified.
            pub(crate) fn wait_deadline(self, deadline: Instant) -> bool {
                self.0.wait_deadline(deadline).is_some()
            }
        }

        impl Future for Listener {
            type Output = ();
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                Pin::new(&mut self.0).poll(cx)
            }
        }
    }
}

#[cfg(feature = "loom")]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::Arc;

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
        /// Always `true`: models skip the spin-before-park phase (it only adds states).
        pub(crate) fn is_completed(&self) -> bool {
            true
        }
    }

    pub(crate) use super::loom_event as event;
}

#[cfg(feature = "loom")]
pub(crate) mod loom_event;

pub(crate) use imp::*;
