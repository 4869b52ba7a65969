//! One attempt of a handler, with its deadline: the per-queue
//! [`timeout`](crate::QueueOptions::timeout) or the message's own
//! ([`PublishOptions::timeout`](crate::PublishOptions::timeout)), counted from the start of
//! the attempt.
//!
//! # What can be interrupted
//!
//! * An **async** handler is dropped at its deadline: its future is dropped at the `.await`
//!   where it waits (a request in flight is abandoned there; code between two `.await`s always
//!   runs to the next one). Its token is cancelled first, so that tasks it spawned with a clone
//!   of the token can stop too. The attempt counts as timed out.
//! * A **thread** handler cannot be interrupted (Rust has no safe way to stop a thread). Its
//!   token fires at the deadline, which a context handler sees ([`Ctx::is_cancelled`],
//!   [`CancelToken::wait_timeout`]); a plain handler sees nothing. If the call returns after
//!   the deadline, the attempt counts as timed out whatever it returned (its `Ok` or `Err` is
//!   dropped), and the retry policy applies. Work it already did (a write, a sent request) is
//!   not undone: handlers with timeouts should be idempotent, as with any retry.
//!
//! [`Ctx::is_cancelled`]: super::Ctx::is_cancelled
//! [`CancelToken::wait_timeout`]: super::CancelToken::wait_timeout
//!
//! # Cost when unused
//!
//! A plain handler's attempt on a queue without a timeout, of a message without options, is
//! the call it always was: the only additions are two tests (`timeout.is_none()`,
//! `extras.is_none()`) of words already in cache. With a timeout, a thread attempt reads the
//! clock twice (start, end); an async attempt reads it once and boxes the handler's call beside
//! a tokio timer entry (so that the dropped future's `Drop` can run guarded).

use std::time::{Duration, Instant};

use super::clock;
use super::context::CancelToken;
use super::core::QueueCore;
use super::handler::ThreadHandler;
use super::user_code::{call_handler, drop_failure, Failure};
use super::Msg;

/// The attempt's timeout: the message's own, else the queue's.
#[inline]
pub(crate) fn timeout_of<T>(core: &QueueCore<T>, msg: &Msg<T>) -> Option<Duration> {
    match &msg.extras {
        None => core.timeout,
        Some(x) => x.timeout.or(core.timeout),
    }
}

/// One attempt of a thread handler, with `token` (the worker's, renewed for a context
/// handler).
#[inline]
pub(crate) fn attempt_blocking<T, H: ThreadHandler<T>>(
    core: &QueueCore<T>,
    handler: &H,
    msg: &Msg<T>,
    token: &mut CancelToken,
) -> Result<(), Failure> {
    if !H::CTX && core.timeout.is_none() && msg.extras.is_none() {
        let token = &*token;
        return call_handler(&|m: &Msg<T>| handler.call(m, token), msg);
    }
    attempt_with_deadline(core, handler, msg, token)
}

fn attempt_with_deadline<T, H: ThreadHandler<T>>(
    core: &QueueCore<T>,
    handler: &H,
    msg: &Msg<T>,
    token: &mut CancelToken,
) -> Result<(), Failure> {
    let timeout = timeout_of(core, msg);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    if H::CTX {
        token.renew(deadline);
    }
    let token = &*token;
    let outcome = call_handler(&|m: &Msg<T>| handler.call(m, token), msg);
    match (timeout, deadline) {
        (Some(t), Some(d)) if clock::passed(d) => {
            if let Err(failure) = outcome {
                drop_failure(failure, core.name);
            }
            if H::CTX {
                // Already cancelled by its deadline: this wakes the waiters on clones of it
                // that no timer wakes (`cancelled()` outside a tokio runtime).
                token.cancel();
            }
            Err(Failure::TimedOut(t))
        }
        _ => outcome,
    }
}

/// One attempt of an async handler: dropped at its deadline.
#[cfg(feature = "tokio")]
pub(crate) async fn attempt_async<T, H>(
    core: &QueueCore<T>,
    me: usize,
    handler: &H,
    msg: &Msg<T>,
    token: &mut CancelToken,
) -> Result<(), Failure>
where
    T: Send + Sync + 'static,
    H: super::handler::AsyncHandler<T>,
{
    use std::future::Future as _;
    use std::task::Poll;

    use super::async_pool::call;

    if !H::CTX && core.timeout.is_none() && msg.extras.is_none() {
        let token = &*token;
        let f = |m| handler.call(m, token);
        return call(me, &f, msg).await;
    }
    let timeout = timeout_of(core, msg);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    if H::CTX {
        token.renew(deadline);
    }
    let token = &*token;
    let f = |m| handler.call(m, token);
    let (Some(t), Some(d)) = (timeout, deadline) else {
        return call(me, &f, msg).await;
    };
    let mut fut = Box::pin(call(me, &f, msg));
    let mut sleep = std::pin::pin!(tokio::time::sleep_until(tokio::time::Instant::from_std(d)));
    let done = std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(Some(r)),
        Poll::Pending => sleep.as_mut().poll(cx).map(|()| None),
    })
    .await;
    match done {
        Some(outcome) => outcome,
        None => {
            if H::CTX {
                token.cancel();
            }
            super::user_code::drop_quietly(fut, core.name, "a timed-out handler's future");
            Err(Failure::TimedOut(t))
        }
    }
}
