//! Running user code on a worker without letting it kill the worker.
//!
//! User code runs on a worker in more places than the handler call: the message's `Drop` (after
//! a handled or dead-lettered message), the error's `Into<Box<dyn Error>>`, `Display` and
//! `Drop`, the panic payload's `Drop`, and the dead-letter handler. Each of them runs under
//! `catch_unwind` here. A panic that escapes one of them is logged and swallowed; a panic
//! payload whose own `Drop` panics too is leaked (`mem::forget`), since dropping it again could
//! only panic again.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The error type handlers' errors are turned into (any `Error + Send + Sync`, or a message:
/// `Err("no such word".into())`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How one handler call ended, when it did not succeed.
pub(crate) enum Failure {
    Error(BoxError),
    Panic(Box<dyn Any + Send>),
    /// The attempt ran past its timeout (`timeout.rs`).
    TimedOut(std::time::Duration),
}

impl Failure {
    /// A `Display` that never panics: a panicking `Display` of the user's error prints a note.
    pub(crate) fn describe(&self) -> Describe<'_> {
        Describe(self)
    }

    /// Whether the handler asked not to retry ([`SkipRetry`](super::SkipRetry), in the error
    /// or its sources). A panic in the error's `source` (user code) counts as "no".
    pub(crate) fn skips_retry(&self) -> bool {
        match self {
            Failure::Error(e) => catch_unwind(AssertUnwindSafe(|| super::SkipRetry::is_in(&**e)))
                .unwrap_or_else(|p| {
                    drop_payload(p);
                    false
                }),
            Failure::Panic(_) | Failure::TimedOut(_) => false,
        }
    }
}

/// See [`Failure::describe`].
pub(crate) struct Describe<'a>(&'a Failure);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Failure::Error(e) => {
                f.write_str("error: ")?;
                match catch_unwind(AssertUnwindSafe(|| write!(f, "{e}"))) {
                    Ok(r) => r,
                    Err(p) => {
                        drop_payload(p);
                        f.write_str("(its Display panicked)")
                    }
                }
            }
            Failure::Panic(p) => write!(f, "panic: {}", panic_text(&**p)),
            Failure::TimedOut(t) => write!(f, "timed out after {t:?}"),
        }
    }
}

/// The text of a panic payload, if it is a string.
pub(crate) fn panic_text(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(non-string payload)")
}

/// Drops a panic payload; if its `Drop` panics, that second payload is leaked.
pub(crate) fn drop_payload(p: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(p))) {
        std::mem::forget(again);
    }
}

/// Drops `value` (a message, an error, a failure); a panic in its `Drop` is logged with `what`
/// and swallowed. Returns whether the drop panicked.
pub(crate) fn drop_quietly<V>(value: V, queue: &str, what: &str) -> bool {
    match catch_unwind(AssertUnwindSafe(move || drop(value))) {
        Ok(()) => false,
        Err(p) => {
            tracing::error!(queue, "mq: dropping {what} panicked: {}", panic_text(&*p));
            drop_payload(p);
            true
        }
    }
}

/// Drops a failure: the error's or the panic payload's `Drop` may panic.
pub(crate) fn drop_failure(failure: Failure, queue: &str) {
    match failure {
        Failure::Error(e) => {
            drop_quietly(e, queue, "a handler's error");
        }
        Failure::Panic(p) => drop_payload(p),
        Failure::TimedOut(_) => {}
    }
}

/// Calls `f` (user code that returns nothing to keep), catching a panic; `Err` with the
/// payload if it panicked.
pub(crate) fn call_quietly(f: impl FnOnce()) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Calls a blocking handler, catching a panic in it or in the conversion of its error.
pub(crate) fn call_handler<M, F, E>(handler: &F, msg: &M) -> Result<(), Failure>
where
    F: Fn(&M) -> Result<(), E>,
    E: Into<BoxError>,
{
    match catch_unwind(AssertUnwindSafe(|| handler(msg).map_err(Into::into))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Error(e)),
        Err(p) => Err(Failure::Panic(p)),
    }
}
