//! The handler context: [`Ctx`] (the message, its attempt, its deadline) and the
//! [`CancelToken`] that tells a handler to give up.
//!
//! # Design
//!
//! A handler registered with [`Mq::register_ctx`](crate::Mq::register_ctx) (threads) or
//! [`Mq::register_async_ctx`](crate::Mq::register_async_ctx) (tokio tasks) is called with a
//! [`Ctx`] instead of a bare `&Msg<T>`. The plain handlers (`|m: &Msg<T>|`) keep their
//! signature and pay nothing: the worker decides at compile time (a constant of the handler
//! adapter, `handler.rs`) whether an attempt needs a token at all, and a plain handler's
//! attempt is the same call as before.
//!
//! A token fires (once, for good) on the first of:
//!
//! * the attempt's own deadline: the queue's [`timeout`](crate::QueueOptions::timeout) or the
//!   message's ([`PublishOptions::timeout`](crate::PublishOptions::timeout)), counted from the
//!   start of the attempt;
//! * the deadline of [`Mq::stop_timeout`](crate::Mq::stop_timeout), once that stop has begun;
//! * [`CancelToken::cancel`].
//!
//! Deadlines are observed two ways. *Lazily*: [`CancelToken::is_cancelled`] compares the
//! deadlines with the clock, so a thread handler polling it sees the deadline exactly, from any
//! thread, with no timer. *Actively*: waiters ([`CancelToken::wait`],
//! [`wait_timeout`](CancelToken::wait_timeout), [`cancelled`](CancelToken::cancelled)) are
//! woken by an [`Event`] that is notified when a token is cancelled, when a stop records its
//! deadline (the waiters recompute how long to sleep), and by the stop itself when its deadline
//! passes while it waits for the workers. A blocking waiter also sleeps no later than the
//! earliest deadline it knows. The future of [`cancelled`](CancelToken::cancelled) does the
//! same with a tokio timer when it is polled inside a tokio runtime (feature `tokio`);
//! elsewhere it wakes on the events only (an async handler's own deadline is one: the worker
//! cancels the token when it drops the timed-out handler).
//!
//! # Cost
//!
//! One [`Event`] per queue, shared by its tokens (a cancel wakes every waiter of the queue, which
//! re-checks its own token: spurious wake-ups only on cancels and stops, which are rare). Each
//! worker owns one token allocation and reuses it for the next attempt when no clone of it is
//! left (`Arc::get_mut`), so a context handler does not allocate per message unless it keeps
//! clones of its tokens.
//!
//! # Invariants
//!
//! 1. A token's `fired` flag and the queue's `stopped` flag only go from `false` to `true`
//!    (a reused allocation is only reset while no clone exists).
//! 2. Whoever sets a flag, or records a stop deadline, notifies the event *after* the store; a
//!    waiter registers its listener *before* it checks the flags and deadlines. With both
//!    sides `SeqCst` (and event-listener's notify-after-listen guarantee) a waiter either sees
//!    the change or receives the notification: no lost wake-up (loom model
//!    `loom-tests/context.rs`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::clock;
use super::Msg;
use crate::sync::event::{Event, Listener};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// No deadline (in `Shared::stop_deadline`).
const NO_DEADLINE: u64 = u64::MAX;

/// What the tokens of one queue share: the stop's deadline and flag, and the wake-up event.
pub(crate) struct Shared {
    /// Set when the stop's deadline passed while it waited (or at a drop after a timed-out
    /// stop): every token of the queue is cancelled.
    stopped: AtomicBool,
    /// The stop deadline, in nanoseconds after `epoch` (`NO_DEADLINE`: none yet).
    stop_deadline: AtomicU64,
    epoch: Instant,
    event: Event,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            stopped: AtomicBool::new(false),
            stop_deadline: AtomicU64::new(NO_DEADLINE),
            epoch: Instant::now(),
            event: Event::new(),
        }
    }

    /// A stop recorded `deadline`: waiters recompute how long they sleep.
    pub(crate) fn set_stop_deadline(&self, deadline: Instant) {
        let nanos = deadline.saturating_duration_since(self.epoch).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(NO_DEADLINE - 1);
        // SeqCst: invariant 2 (store, then notify).
        self.stop_deadline.fetch_min(nanos, Ordering::SeqCst);
        self.event.notify_all();
    }

    /// The stop's deadline passed: cancel every token of the queue.
    pub(crate) fn fire_stop(&self) {
        // SeqCst: invariant 2.
        if !self.stopped.swap(true, Ordering::SeqCst) {
            self.event.notify_all();
        }
    }

    fn stop_deadline(&self) -> Option<Instant> {
        // SeqCst: invariant 2 (the waiter's side).
        match self.stop_deadline.load(Ordering::SeqCst) {
            NO_DEADLINE => None,
            d => Some(self.epoch + Duration::from_nanos(d)),
        }
    }
}

struct Inner {
    /// Set by `cancel` (or by the worker at an async handler's deadline).
    fired: AtomicBool,
    /// The attempt's own deadline (its timeout), if any.
    deadline: Option<Instant>,
    shared: Arc<Shared>,
}

/// A cancellation signal handed to a handler in its [`Ctx`]: it fires at the attempt's deadline,
/// at the deadline of [`Mq::stop_timeout`](crate::Mq::stop_timeout), or on [`cancel`](Self::cancel).
///
/// Cheap to clone (an `Arc`); a clone can be moved into another thread or task, and sees the
/// same signal. Once fired it stays fired.
///
/// ```
/// use std::time::Duration;
/// use segmq::CancelToken;
///
/// let token = CancelToken::new();
/// assert!(!token.is_cancelled());
/// assert!(!token.wait_timeout(Duration::from_millis(1))); // not fired: timed out
/// let other = token.clone();
/// std::thread::spawn(move || other.cancel());
/// token.wait(); // returns once the other thread cancelled it
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .field("deadline", &self.deadline())
            .finish()
    }
}

impl CancelToken {
    /// A token of its own (no queue, no deadline): it fires only on [`cancel`](Self::cancel).
    /// Useful to test a context handler's helpers, or to cancel work of your own.
    ///
    /// ```
    /// let t = segmq::CancelToken::new();
    /// assert_eq!(t.deadline(), None);
    /// ```
    pub fn new() -> Self {
        Self::attached(Arc::new(Shared::new()), None)
    }

    pub(crate) fn attached(shared: Arc<Shared>, deadline: Option<Instant>) -> Self {
        Self {
            inner: Arc::new(Inner {
                fired: AtomicBool::new(false),
                deadline,
                shared,
            }),
        }
    }

    /// Fires the token (idempotent): every waiter wakes, every clone sees it.
    ///
    /// A handler cancelling its own token does not end its attempt: it only signals the work
    /// it started (clones in other threads or tasks).
    pub fn cancel(&self) {
        // SeqCst: invariant 2.
        if !self.inner.fired.swap(true, Ordering::SeqCst) {
            self.inner.shared.event.notify_all();
        }
    }

    /// Whether the token has fired: cancelled, or a deadline has passed (read from the clock
    /// here, so a thread handler that polls this sees its deadline on time).
    pub fn is_cancelled(&self) -> bool {
        let inner = &*self.inner;
        // SeqCst: invariant 2 (the waiter's side).
        inner.fired.load(Ordering::SeqCst)
            || inner.shared.stopped.load(Ordering::SeqCst)
            || self.deadline().is_some_and(clock::passed)
    }

    /// The earliest deadline known now: the attempt's own (its timeout) or the stop's, if a
    /// [`stop_timeout`](crate::Mq::stop_timeout) has begun. `None`: no deadline (yet).
    pub fn deadline(&self) -> Option<Instant> {
        let own = self.inner.deadline;
        match (own, self.inner.shared.stop_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time left until [`deadline`](Self::deadline) (zero once it passed); `None` without one.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Blocks the thread until the token fires.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks the thread until the token fires or `timeout` passes; `true` if it fired.
    /// Use it instead of `thread::sleep` in a thread handler: the sleep ends early when the
    /// handler should give up.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Blocks until the token fires or `until`; `true` if it fired.
    fn wait_until(&self, until: Option<Instant>) -> bool {
        loop {
            if self.is_cancelled() {
                return true;
            }
            // Invariant 2: listen, then look.
            let listener = self.inner.shared.event.listen();
            if self.is_cancelled() {
                return true;
            }
            let wake = match (until, self.deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match wake {
                None => listener.wait(),
                Some(t) => {
                    if !listener.wait_deadline(t) && until.is_some_and(clock::passed) {
                        return self.is_cancelled();
                    }
                }
            }
        }
    }

    /// A future that completes when the token fires; for async handlers:
    /// `tokio::select! { r = work() => r, _ = ctx.token().cancelled() => Err(..) }`.
    ///
    /// Inside a tokio runtime (feature `tokio`) it also wakes at the deadline on its own.
    /// Elsewhere (another executor) no timer wakes it, only events: a [`cancel`](Self::cancel),
    /// the worker at the end of an attempt that ran past its deadline (an async handler's
    /// future dropped, a thread handler returning late), and a
    /// [`stop_timeout`](crate::Mq::stop_timeout) that reaches its deadline while it waits for
    /// the workers. A clone that outlives its attempt on such an executor may thus sleep past
    /// a deadline; [`is_cancelled`](Self::is_cancelled) is exact everywhere.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            token: self,
            listener: None,
            #[cfg(feature = "tokio")]
            sleep: None,
        }
    }

    /// A fresh token for the next attempt, in the allocation of this one when no clone of it
    /// is left.
    pub(crate) fn renew(&mut self, deadline: Option<Instant>) {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.fired = AtomicBool::new(false);
                inner.deadline = deadline;
            }
            None => *self = Self::attached(self.inner.shared.clone(), deadline),
        }
    }
}

/// The future of [`CancelToken::cancelled`].
#[must_use = "futures do nothing unless polled"]
pub struct Cancelled<'a> {
    token: &'a CancelToken,
    listener: Option<Listener>,
    #[cfg(feature = "tokio")]
    sleep: Option<(Instant, Pin<Box<tokio::time::Sleep>>)>,
}

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("token", self.token)
            .finish_non_exhaustive()
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            if this.token.is_cancelled() {
                return Poll::Ready(());
            }
            match &mut this.listener {
                None => {
                    // Invariant 2: listen, then look again (the loop's head).
                    this.listener = Some(this.token.inner.shared.event.listen());
                }
                Some(l) => match Pin::new(l).poll(cx) {
                    Poll::Ready(()) => this.listener = None,
                    Poll::Pending => break,
                },
            }
        }
        #[cfg(feature = "tokio")]
        if let Some(d) = this.token.deadline() {
            if tokio::runtime::Handle::try_current().is_ok() {
                if this.sleep.as_ref().map_or(true, |(at, _)| *at != d) {
                    let at = tokio::time::Instant::from_std(d);
                    this.sleep = Some((d, Box::pin(tokio::time::sleep_until(at))));
                }
                if let Some((_, s)) = &mut this.sleep {
                    if s.as_mut().poll(cx).is_ready() {
                        // The deadline passed: `is_cancelled` now says so.
                        cx.waker().wake_by_ref();
                    }
                }
            }
        }
        Poll::Pending
    }
}

/// What a context handler gets for one attempt: the message, and its [`CancelToken`].
///
/// `Copy`: it is two references. To hand the token to other threads or tasks, clone it
/// (`ctx.token().clone()`).
///
/// ```
/// use std::time::Duration;
/// use segmq::{Ctx, Mq, QueueOptions};
///
/// let mq = Mq::new();
/// let p = mq
///     .register_ctx("slow", QueueOptions::new(1).timeout(Duration::from_secs(30)), |ctx: Ctx<'_, u32>| {
///         assert_eq!(ctx.attempt(), 1);
///         assert!(ctx.deadline().is_some()); // the queue's timeout
///         // A slow call that gives up when the token fires:
///         if ctx.token().wait_timeout(Duration::from_millis(1)) {
///             return Err("cancelled");
///         }
///         println!("#{} {}", ctx.msg().id, ctx.data());
///         Ok(())
///     })
///     .unwrap();
/// p.publish(7).unwrap();
/// mq.start().unwrap();
/// mq.stop();
/// assert_eq!(mq.stats("slow").unwrap().handled_ok, 1);
/// ```
pub struct Ctx<'a, T> {
    msg: &'a Msg<T>,
    token: &'a CancelToken,
}

impl<T> Clone for Ctx<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Ctx<'_, T> {}

impl<T> fmt::Debug for Ctx<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("msg", self.msg)
            .field("token", self.token)
            .finish()
    }
}

impl<'a, T> Ctx<'a, T> {
    pub(crate) fn new(msg: &'a Msg<T>, token: &'a CancelToken) -> Self {
        Self { msg, token }
    }

    /// The message.
    pub fn msg(&self) -> &'a Msg<T> {
        self.msg
    }

    /// The message's payload (`ctx.msg().data`).
    pub fn data(&self) -> &'a T {
        &self.msg.data
    }

    /// Which attempt this is: 1 for the first delivery, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.msg.attempt()
    }

    /// The attempt's cancellation token.
    pub fn token(&self) -> &'a CancelToken {
        self.token
    }

    /// Whether the token has fired (see [`CancelToken::is_cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The earliest deadline of this attempt known now (see [`CancelToken::deadline`]).
    pub fn deadline(&self) -> Option<Instant> {
        self.token.deadline()
    }
}
