//! Which tokio runtime an async queue runs on (feature `tokio`), and how it is chosen.
//!
//! # Choice
//!
//! [`Mq::register_async`](crate::Mq::register_async) takes, in this order:
//!
//! 1. the runtime given by [`QueueOptions::runtime`](crate::QueueOptions::runtime)
//!    ([`AsyncRuntime::Given`]; one without timers is refused);
//! 2. the *ambient* runtime, the one the registering code runs in
//!    (`tokio::runtime::Handle::try_current()`, [`AsyncRuntime::Ambient`]), if it has timers;
//! 3. else a 2-thread runtime the `Mq` builds once, owns, and shuts down when dropped
//!    ([`AsyncRuntime::Internal`]).
//!
//! The choice is made at registration and kept with the queue: [`Publisher::async_runtime`]
//! (and its `Debug`) says which one it is, and the registration's `info` log line too.
//!
//! # Why the flavour is kept
//!
//! A blocking [`Mq::stop`](crate::Mq::stop) called on a current-thread runtime that runs one of
//! the `Mq`'s async queues would wait for tasks that need the very thread it blocks. `stop.rs`
//! refuses that with a panic naming [`Mq::stop_async`](crate::Mq::stop_async), which is why
//! each queue remembers whether its runtime is a current-thread one.

use super::{Mq, MqError, Publisher};

/// Which tokio runtime runs an async queue's tasks (see [`Publisher::async_runtime`]).
///
/// ```
/// use segmq::{AsyncRuntime, Mq, Msg, QueueOptions};
/// let mq = Mq::new();
/// // Outside any runtime: the Mq's own 2-thread runtime.
/// let p = mq
///     .register_async("outside", QueueOptions::new(1), |_: &Msg<u8>| {
///         Box::pin(async { Ok::<_, std::io::Error>(()) })
///     })
///     .unwrap();
/// assert_eq!(p.async_runtime(), Some(AsyncRuntime::Internal));
///
/// // Inside a runtime: that one (the ambient runtime).
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let q = rt.block_on(async {
///     mq.register_async("inside", QueueOptions::new(1), |_: &Msg<u8>| {
///         Box::pin(async { Ok::<_, std::io::Error>(()) })
///     })
/// });
/// assert_eq!(q.unwrap().async_runtime(), Some(AsyncRuntime::Ambient));
/// mq.stop();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AsyncRuntime {
    /// The runtime given by [`QueueOptions::runtime`](crate::QueueOptions::runtime).
    Given,
    /// The runtime `register_async` was called in (`Handle::try_current()`).
    Ambient,
    /// The `Mq`'s own 2-thread runtime (no runtime given, none ambient, or the ambient one has
    /// no timers).
    Internal,
}

/// The runtime of one async queue: which one, and whether it is a current-thread runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuntimeUse {
    pub(crate) kind: AsyncRuntime,
    pub(crate) current_thread: bool,
}

impl Mq {
    /// Chooses the runtime of an async queue (module docs, "Choice").
    pub(crate) fn choose_runtime(
        &self,
        name: &str,
        given: Option<&tokio::runtime::Handle>,
    ) -> Result<(tokio::runtime::Handle, RuntimeUse), MqError> {
        let (handle, kind) = match given {
            Some(h) => {
                super::async_pool::check_runtime(name, h)?;
                (h.clone(), AsyncRuntime::Given)
            }
            None => match tokio::runtime::Handle::try_current() {
                Ok(h) if super::async_pool::has_timers(&h) => (h, AsyncRuntime::Ambient),
                Ok(_) => {
                    tracing::info!(
                        queue = name,
                        "mq: the ambient tokio runtime has no timers: using the Mq's own runtime"
                    );
                    (self.internal_runtime()?, AsyncRuntime::Internal)
                }
                Err(_) => (self.internal_runtime()?, AsyncRuntime::Internal),
            },
        };
        let current_thread =
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread;
        Ok((
            handle,
            RuntimeUse {
                kind,
                current_thread,
            },
        ))
    }
}

impl<T> Publisher<T> {
    /// Which tokio runtime runs this queue's tasks; `None` for a queue of worker threads
    /// ([`Mq::register`](crate::Mq::register), [`Mq::register_with`](crate::Mq::register_with)).
    ///
    /// ```
    /// use segmq::{AsyncRuntime, Mq, Msg, QueueOptions};
    /// let mq = Mq::new();
    /// let threads = mq.register("threads", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(threads.async_runtime(), None);
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let given = mq
    ///     .register_async("given", QueueOptions::new(1).runtime(rt.handle().clone()), |_: &Msg<u8>| {
    ///         Box::pin(async { Ok::<_, std::io::Error>(()) })
    ///     })
    ///     .unwrap();
    /// assert_eq!(given.async_runtime(), Some(AsyncRuntime::Given));
    /// ```
    pub fn async_runtime(&self) -> Option<AsyncRuntime> {
        self.core.runtime.get().map(|r| r.kind)
    }
}
