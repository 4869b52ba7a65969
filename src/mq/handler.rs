//! The two kinds of handler, plain (`|m: &Msg<T>|`) and with a context (`|ctx: Ctx<T>|`),
//! behind one internal trait per worker kind, and the registrations of context handlers.
//!
//! # Design
//!
//! Why two registrations (`register_with` / [`Mq::register_ctx`]) and not one `register`
//! accepting both: a closure's argument type decides which `Fn` trait it implements, and a
//! `register` generic over a handler trait with impls for both `Fn(&Msg<T>)` and `Fn(Ctx<T>)`
//! would make every unannotated closure ambiguous for the compiler (`|m| ..` no longer infers),
//! breaking today's callers. Two names keep inference, and the plain one unchanged.
//!
//! The workers are generic over [`ThreadHandler`] / [`AsyncHandler`]. Each adapter says with
//! an associated constant (`CTX`) whether it reads a context, so a plain handler's attempt
//! compiles to exactly the call it was before: no token is renewed, no clock is read, unless a
//! timeout applies to the attempt (`timeout.rs`).

use std::sync::Arc;

use super::context::{CancelToken, Ctx};
use super::user_code::BoxError;
use super::worker::spawn_threads;
use super::{Mq, MqError, Msg, Publisher, QueueOptions};

/// A thread worker's handler.
pub(crate) trait ThreadHandler<T>: Send + Sync + 'static {
    /// Whether the handler reads a context (then each attempt renews the worker's token).
    const CTX: bool;
    /// The handler's own error type.
    type Error: Into<BoxError>;
    /// One call; `token` is the attempt's (a plain handler ignores it).
    fn call(&self, msg: &Msg<T>, token: &CancelToken) -> Result<(), Self::Error>;
}

/// A plain handler, `Fn(&Msg<T>) -> Result<(), E>`.
pub(crate) struct Plain<F>(pub(crate) F);

impl<F> Plain<F> {
    pub(crate) fn new(f: F) -> Self {
        Self(f)
    }
}

impl<T, F, E> ThreadHandler<T> for Plain<F>
where
    F: Fn(&Msg<T>) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    const CTX: bool = false;
    type Error = E;
    #[inline(always)]
    fn call(&self, msg: &Msg<T>, _token: &CancelToken) -> Result<(), E> {
        (self.0)(msg)
    }
}

/// A context handler, `Fn(Ctx<'_, T>) -> Result<(), E>`.
pub(crate) struct WithCtx<F>(F);

impl<T, F, E> ThreadHandler<T> for WithCtx<F>
where
    F: Fn(Ctx<'_, T>) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    const CTX: bool = true;
    type Error = E;
    #[inline(always)]
    fn call(&self, msg: &Msg<T>, token: &CancelToken) -> Result<(), E> {
        (self.0)(Ctx::new(msg, token))
    }
}

/// An async worker's handler.
#[cfg(feature = "tokio")]
pub(crate) trait AsyncHandler<T>: Send + Sync + 'static {
    /// As [`ThreadHandler::CTX`].
    const CTX: bool;
    /// The handler's own error type.
    type Error: Into<BoxError> + 'static;
    /// One call: the future borrows the message and the token.
    fn call<'a>(
        &'a self,
        msg: &'a Msg<T>,
        token: &'a CancelToken,
    ) -> super::HandlerFuture<'a, Self::Error>;
}

#[cfg(feature = "tokio")]
impl<T, F, E> AsyncHandler<T> for Plain<F>
where
    F: for<'a> Fn(&'a Msg<T>) -> super::HandlerFuture<'a, E> + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    const CTX: bool = false;
    type Error = E;
    #[inline(always)]
    fn call<'a>(&'a self, msg: &'a Msg<T>, _token: &'a CancelToken) -> super::HandlerFuture<'a, E> {
        (self.0)(msg)
    }
}

#[cfg(feature = "tokio")]
impl<T, F, E> AsyncHandler<T> for WithCtx<F>
where
    F: for<'a> Fn(Ctx<'a, T>) -> super::HandlerFuture<'a, E> + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    const CTX: bool = true;
    type Error = E;
    #[inline(always)]
    fn call<'a>(&'a self, msg: &'a Msg<T>, token: &'a CancelToken) -> super::HandlerFuture<'a, E> {
        (self.0)(Ctx::new(msg, token))
    }
}

impl Mq {
    /// Registers a queue whose `concurrency` worker threads run a *context* handler: it gets
    /// a [`Ctx`] (the message, its attempt, its [`CancelToken`] and deadline) instead of a
    /// bare `&Msg<T>`. Everything else is [`register_with`](Mq::register_with)'s.
    ///
    /// The token fires at the attempt's deadline ([`QueueOptions::timeout`],
    /// [`PublishOptions::timeout`](crate::PublishOptions::timeout)), at the deadline of
    /// [`stop_timeout`](Mq::stop_timeout), or on [`CancelToken::cancel`]. A thread cannot be
    /// interrupted: the handler has to look ([`Ctx::is_cancelled`]) or wait on the token
    /// ([`CancelToken::wait_timeout`] instead of `thread::sleep`). An attempt that returns
    /// after its own deadline counts as timed out, whatever it returned (see
    /// [`QueueOptions::timeout`]).
    ///
    /// Not for queues with a NATS transport ([`MqError::Unsupported`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Ctx, Mq, QueueOptions, RetryPolicy};
    ///
    /// let mq = Mq::new();
    /// let opts = QueueOptions::new(1)
    ///     .timeout(Duration::from_millis(20))
    ///     .retry(RetryPolicy::fixed(2, Duration::ZERO));
    /// let p = mq
    ///     .register_ctx("llm", opts, |ctx: Ctx<'_, &str>| {
    ///         if ctx.attempt() == 1 {
    ///             ctx.token().wait(); // a call that hangs: it ends at the deadline
    ///             return Err("hung up");
    ///         }
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// p.publish("serendipity").unwrap();
    /// mq.start().unwrap();
    /// mq.stop();
    /// let s = mq.stats("llm").unwrap();
    /// assert_eq!((s.timed_out, s.retried, s.handled_ok), (1, 1, 1));
    /// ```
    pub fn register_ctx<T, F, E>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        handler: F,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + 'static,
        F: Fn(Ctx<'_, T>) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        #[cfg(feature = "nats")]
        if options.remote.is_some() {
            return Err(MqError::Unsupported {
                queue: name.to_owned(),
                what: "context handlers on a queue with a NATS transport (use `register_with`)",
            });
        }
        let handler = Arc::new(WithCtx(handler));
        self.register_erased(
            name,
            options,
            Box::new(move |core| spawn_threads(core, &handler, &mut super::worker::os_spawn)),
        )
    }

    /// Registers a queue of tokio tasks running an async *context* handler: as
    /// [`register_async`](Mq::register_async), with a [`Ctx`] instead of a `&Msg<T>`.
    ///
    /// An async handler *is* interrupted at its own deadline: its future is dropped (at its
    /// current `.await`), its token cancelled (so clones held by tasks it spawned see it), and
    /// the attempt counts as timed out. At the deadline of [`stop_timeout`](Mq::stop_timeout)
    /// it is not dropped; its token fires and it decides.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Ctx, Mq, QueueOptions};
    ///
    /// let mq = Mq::new();
    /// let p = mq
    ///     .register_async_ctx("fetch", QueueOptions::new(8), |ctx: Ctx<'_, u32>| {
    ///         Box::pin(async move {
    ///             tokio::select! {
    ///                 _ = tokio::time::sleep(Duration::from_millis(1)) => Ok(()),
    ///                 _ = ctx.token().cancelled() => Err("shutting down"),
    ///             }
    ///         })
    ///     })
    ///     .unwrap();
    /// mq.start().unwrap();
    /// p.publish(1).unwrap();
    /// mq.stop();
    /// assert_eq!(mq.stats("fetch").unwrap().handled_ok, 1);
    /// ```
    #[cfg(feature = "tokio")]
    pub fn register_async_ctx<T, F, E>(
        &self,
        name: &str,
        options: QueueOptions<T>,
        handler: F,
    ) -> Result<Publisher<T>, MqError>
    where
        T: Send + Sync + 'static,
        F: for<'a> Fn(Ctx<'a, T>) -> super::HandlerFuture<'a, E> + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        self.register_async_handler(name, options, WithCtx(handler))
    }
}
