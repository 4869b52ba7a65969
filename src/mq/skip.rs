//! Failures that must not be retried ([`SkipRetry`]), and what the dead-letter handler is told
//! about a message it receives ([`DeadLetterReason`]).
//!
//! # Design
//!
//! A handler's error is a `Box<dyn Error + Send + Sync>` by the time the worker sees it, so
//! "do not retry" is a type the worker recognises by downcast: [`SkipRetry`] wraps the real
//! cause. It is looked for in the error itself and along its [`source`](Error::source) chain,
//! so an error type of your own can carry it as its source. The check runs only on the failure
//! path (one `type_id` comparison per link).
//!
//! (Celery's `Reject`, asynq's `SkipRetry`, apalis' `AbortError`.)

use std::error::Error;
use std::fmt;
use std::time::Duration;

use super::user_code::{BoxError, Failure};

/// An error that tells the queue *not* to retry: the message goes to the dead-letter handler
/// at once, whatever attempts are left. The cause is kept (and shown by `Display`).
///
/// Return it from a handler whose error type is a `Box<dyn Error + Send + Sync>` (or anything
/// that converts into one and keeps it as the error or one of its sources):
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use segmq::{BoxError, Mq, Msg, QueueOptions, RetryPolicy, SkipRetry};
///
/// let dead = Arc::new(Mutex::new(Vec::new()));
/// let sink = dead.clone();
/// let opts = QueueOptions::new(1)
///     .retry(RetryPolicy::fixed(5, Duration::ZERO))
///     .dead_letter_with_error(move |m: Msg<&str>, why| sink.lock().unwrap().push((m.attempt(), why.to_string())));
/// let mq = Mq::new();
/// let p = mq
///     .register_with("words", opts, |m: &Msg<&str>| -> Result<(), BoxError> {
///         if m.data.contains(' ') {
///             return Err(SkipRetry::new("not a word").into()); // retrying cannot help
///         }
///         Ok(())
///     })
///     .unwrap();
/// p.publish("two words").unwrap();
/// mq.start().unwrap();
/// mq.stop();
/// assert_eq!(*dead.lock().unwrap(), [(1, "not a word (not retried)".to_string())]);
/// let s = mq.stats("words").unwrap();
/// assert_eq!((s.failed, s.skipped_retry, s.retried, s.dead_lettered), (1, 1, 0, 1));
/// ```
pub struct SkipRetry {
    cause: BoxError,
}

impl SkipRetry {
    /// Wraps `cause` (an error, or a message: `SkipRetry::new("bad input")`).
    pub fn new(cause: impl Into<BoxError>) -> Self {
        Self {
            cause: cause.into(),
        }
    }

    /// The cause.
    pub fn cause(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.cause
    }

    /// Gives the cause back.
    pub fn into_cause(self) -> BoxError {
        self.cause
    }

    /// Whether `err` is, or has among its sources, a [`SkipRetry`].
    ///
    /// ```
    /// use segmq::{BoxError, SkipRetry};
    /// let e: BoxError = SkipRetry::new("no").into();
    /// assert!(SkipRetry::is_in(&*e));
    /// assert!(!SkipRetry::is_in(&std::fmt::Error));
    /// ```
    pub fn is_in(err: &(dyn Error + 'static)) -> bool {
        let mut link = Some(err);
        while let Some(e) = link {
            if e.is::<SkipRetry>() {
                return true;
            }
            link = e.source();
        }
        false
    }
}

impl fmt::Debug for SkipRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SkipRetry").field(&self.cause).finish()
    }
}

impl fmt::Display for SkipRetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (not retried)", self.cause)
    }
}

impl Error for SkipRetry {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Why a message went to the dead-letter handler; given to
/// [`QueueOptions::dead_letter_with_error`](crate::QueueOptions::dead_letter_with_error).
///
/// `Display` describes it ("timed out after 5s", the handler's error text, ...); the
/// handler's own error is [`error`](Self::error) (downcast it to your type).
#[derive(Debug)]
#[non_exhaustive]
pub enum DeadLetterReason {
    /// The last attempt returned this error (a [`SkipRetry`] included: see
    /// [`is_skip_retry`](Self::is_skip_retry)).
    Failed(BoxError),
    /// The last attempt panicked with this message (`"(non-string payload)"` if the payload
    /// was not a string).
    Panicked(String),
    /// The last attempt ran past its timeout (the `Duration`).
    TimedOut(Duration),
    /// The message was pushed out of its full queue by a newer one
    /// ([`QueueOptions::drop_oldest`](crate::QueueOptions::drop_oldest)); it never ran.
    Displaced,
    /// A remote queue's message was redelivered past its last attempt without a decision
    /// (its consumers died on it); it did not run again.
    Redelivered,
}

impl DeadLetterReason {
    pub(crate) fn from_failure(failure: Failure) -> Self {
        match failure {
            Failure::Error(e) => Self::Failed(e),
            Failure::Panic(p) => {
                let text = super::user_code::panic_text(&*p).to_owned();
                super::user_code::drop_payload(p);
                Self::Panicked(text)
            }
            Failure::TimedOut(t) => Self::TimedOut(t),
        }
    }

    /// The handler's error, for [`Failed`](Self::Failed).
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match self {
            Self::Failed(e) => Some(&**e),
            _ => None,
        }
    }

    /// Whether the handler asked not to retry ([`SkipRetry`]).
    pub fn is_skip_retry(&self) -> bool {
        self.error().is_some_and(|e| SkipRetry::is_in(e))
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "{e}"),
            Self::Panicked(p) => write!(f, "panicked: {p}"),
            Self::TimedOut(t) => write!(f, "timed out after {t:?}"),
            Self::Displaced => f.write_str("displaced by a newer message (drop-oldest)"),
            Self::Redelivered => f.write_str("redelivered past its last attempt"),
        }
    }
}

impl Error for DeadLetterReason {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}
