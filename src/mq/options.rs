//! [`QueueOptions`]: concurrency, capacity, retry policy and dead-letter handler of one queue.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{DeadLetterReason, Msg, RetryPolicy};

/// The dead-letter handler, as stored: both public forms take the reason (the plain one drops
/// it).
pub(crate) type DeadLetter<T> = Arc<dyn Fn(Msg<T>, DeadLetterReason) + Send + Sync>;

/// How a queue is set up; see [`Mq::register_with`](crate::Mq::register_with).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use segmq::{Mq, Msg, QueueOptions, RetryPolicy};
///
/// let dead = Arc::new(Mutex::new(Vec::new()));
/// let sink = dead.clone();
/// let options = QueueOptions::new(2)
///     .retry(RetryPolicy::fixed(3, Duration::from_millis(1)))
///     .dead_letter(move |m: Msg<u32>| sink.lock().unwrap().push(m.data));
/// let mq = Mq::new();
/// let p = mq.register_with("flaky", options, |_m: &Msg<u32>| Err("always fails")).unwrap();
/// p.publish(7).unwrap();
/// mq.start().unwrap();
/// mq.stop();
/// assert_eq!(*dead.lock().unwrap(), [7]);
/// assert_eq!(mq.stats("flaky").unwrap().retried, 2);
/// ```
#[must_use = "builder methods return the changed options; pass them to `Mq::register`"]
pub struct QueueOptions<T> {
    pub(crate) concurrency: usize,
    pub(crate) capacity: Option<usize>,
    pub(crate) drop_oldest: bool,
    pub(crate) retry: RetryPolicy,
    pub(crate) dead_letter: Option<DeadLetter<T>>,
    pub(crate) timeout: Option<Duration>,
    #[cfg(feature = "tokio")]
    pub(crate) runtime: Option<tokio::runtime::Handle>,
    #[cfg(feature = "durable")]
    pub(crate) durable: Option<super::durable::DurableSpec<T>>,
    /// Set by [`transport`](Self::transport) with a `nats://` transport (`remote/`).
    #[cfg(feature = "nats")]
    pub(crate) remote: Option<super::remote::RemoteSpec<T>>,
}

impl<T> QueueOptions<T> {
    /// `concurrency` workers (at least 1), an unbounded queue, no retry, and the default
    /// dead-letter handler (log through `tracing` and count).
    ///
    /// ```
    /// let o = segmq::QueueOptions::<String>::new(4);
    /// assert_eq!(o.concurrency(), 4);
    /// ```
    pub fn new(concurrency: usize) -> Self {
        Self {
            concurrency,
            capacity: None,
            drop_oldest: false,
            retry: RetryPolicy::none(),
            dead_letter: None,
            timeout: None,
            #[cfg(feature = "tokio")]
            runtime: None,
            #[cfg(feature = "durable")]
            durable: None,
            #[cfg(feature = "nats")]
            remote: None,
        }
    }

    /// A bounded queue of `capacity` messages: `publish` waits for room, `try_publish` fails
    /// with [`PublishError::Full`](crate::PublishError::Full).
    ///
    /// A capacity of 0 is refused at registration with
    /// [`MqError::Unsupported`](crate::MqError::Unsupported).
    ///
    /// ```
    /// use segmq::{Mq, MqError, Msg, PublishError, QueueOptions};
    /// let mq = Mq::new();
    /// let zero = mq.register_with("z", QueueOptions::new(1).capacity(0), |_: &Msg<u8>| Ok::<_, MqError>(()));
    /// assert!(matches!(zero, Err(MqError::Unsupported { .. })));
    /// let p = mq
    ///     .register_with("b", QueueOptions::new(1).capacity(2), |_: &Msg<u8>| Ok::<_, MqError>(()))
    ///     .unwrap();
    /// p.publish(1).unwrap();
    /// p.publish(2).unwrap();
    /// assert!(matches!(p.try_publish(3), Err(PublishError::Full(3)))); // not started: full
    /// mq.start().unwrap();
    /// p.publish(3).unwrap(); // waits for a worker to make room
    /// mq.stop();
    /// assert_eq!(mq.stats("b").unwrap().handled_ok, 3);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// The drop-oldest overflow policy for a bounded queue: when it is full, a publish does not
    /// wait (nor fail with `Full`) but displaces the *oldest* queued message, so the handlers
    /// always work on the newest ones (what latency-sensitive producers want, asynq#869). The
    /// displaced message is counted ([`QueueStats::displaced`](crate::QueueStats::displaced),
    /// [`QueueReport::displaced`](crate::QueueReport::displaced)), logged, and handed to the
    /// dead-letter handler if there is one: nothing disappears unreported.
    ///
    /// Needs a [`capacity`](Self::capacity); without one, and on a remote queue, registration
    /// fails with [`MqError::Unsupported`](crate::MqError::Unsupported).
    ///
    /// ```
    /// use segmq::{Mq, MqError, Msg, QueueOptions};
    /// use std::sync::{Arc, Mutex};
    /// let mq = Mq::new();
    /// let pushed_out = Arc::new(Mutex::new(Vec::new()));
    /// let seen = pushed_out.clone();
    /// let opts = QueueOptions::new(1)
    ///     .capacity(2)
    ///     .drop_oldest()
    ///     .dead_letter(move |m: Msg<u32>| seen.lock().unwrap().push(m.data));
    /// let p = mq.register_with("ticks", opts, |_: &Msg<u32>| Ok::<_, MqError>(())).unwrap();
    /// for tick in 0..5 {
    ///     p.publish(tick).unwrap(); // never waits: the workers have not started yet
    /// }
    /// assert_eq!(*pushed_out.lock().unwrap(), [0, 1, 2]);
    /// mq.start().unwrap();
    /// let report = mq.stop_timeout(std::time::Duration::from_secs(60));
    /// assert!(!report.timed_out && report.is_accounted());
    /// let q = &report.queues[0];
    /// assert_eq!((q.published, q.handled_ok, q.displaced), (5, 2, 3));
    /// ```
    pub fn drop_oldest(mut self) -> Self {
        self.drop_oldest = true;
        self
    }

    /// The retry policy for failed or panicked handler calls.
    ///
    /// ```
    /// let o = segmq::QueueOptions::<u8>::new(1).retry(segmq::RetryPolicy::none());
    /// # drop(o);
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Receives, by value, each message that exhausted its attempts. It runs on the worker that
    /// made the last attempt; a panic in it is caught and logged.
    ///
    /// ```
    /// let o = segmq::QueueOptions::new(1).dead_letter(|m: segmq::Msg<String>| eprintln!("gave up on {}", m.data));
    /// # drop(o);
    /// ```
    pub fn dead_letter(mut self, handler: impl Fn(Msg<T>) + Send + Sync + 'static) -> Self {
        self.dead_letter = Some(Arc::new(move |m, _why| handler(m)));
        self
    }

    /// Like [`dead_letter`](Self::dead_letter), and the handler also receives *why*: the last
    /// attempt's error (by value, downcast it to your type), panic message or timeout, or
    /// [`DeadLetterReason::Displaced`]. Replaces a handler set by `dead_letter` (one handler
    /// per queue).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use segmq::{DeadLetterReason, Mq, Msg, QueueOptions};
    ///
    /// let why = Arc::new(Mutex::new(String::new()));
    /// let seen = why.clone();
    /// let opts = QueueOptions::new(1).dead_letter_with_error(move |m: Msg<u8>, reason| {
    ///     assert!(matches!(reason, DeadLetterReason::Failed(_)));
    ///     *seen.lock().unwrap() = format!("#{}: {reason}", m.id);
    /// });
    /// let mq = Mq::new();
    /// let p = mq.register_with("q", opts, |_: &Msg<u8>| Err("the API said no")).unwrap();
    /// p.publish(1).unwrap();
    /// mq.start().unwrap();
    /// mq.stop();
    /// assert_eq!(*why.lock().unwrap(), "#0: the API said no");
    /// ```
    pub fn dead_letter_with_error(
        mut self,
        handler: impl Fn(Msg<T>, DeadLetterReason) + Send + Sync + 'static,
    ) -> Self {
        self.dead_letter = Some(Arc::new(handler));
        self
    }

    /// A deadline for each attempt: `timeout` from the attempt's start (a message's own
    /// [`PublishOptions::timeout`](crate::PublishOptions::timeout) replaces it). At the
    /// deadline, an async handler's future is dropped; a thread handler cannot be interrupted,
    /// but its [`CancelToken`](crate::CancelToken) fires (context handlers,
    /// [`Mq::register_ctx`](crate::Mq::register_ctx)) and, if it returns after the deadline,
    /// the attempt counts as failed whatever it returned. Either way the attempt is counted in
    /// [`QueueStats::timed_out`](crate::QueueStats::timed_out), the retry policy applies, and
    /// a dead-lettered message's reason is [`DeadLetterReason::TimedOut`].
    ///
    /// The clock is read at the start and end of each attempt of such a queue (two reads);
    /// a queue without a timeout reads none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg, QueueOptions};
    /// let mq = Mq::new();
    /// let opts = QueueOptions::new(1).timeout(Duration::ZERO); // every attempt is late
    /// let p = mq.register_with("late", opts, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// p.publish(1).unwrap();
    /// mq.start().unwrap();
    /// mq.stop();
    /// let s = mq.stats("late").unwrap();
    /// assert_eq!((s.handled_ok, s.timed_out, s.dead_lettered), (0, 1, 1));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The tokio runtime that runs the tasks of an async queue
    /// ([`Mq::register_async`](crate::Mq::register_async)); without it the `Mq` uses an
    /// internal 2-thread runtime.
    ///
    /// ```
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let o = segmq::QueueOptions::<u8>::new(4).runtime(rt.handle().clone());
    /// # drop(o);
    /// ```
    #[cfg(feature = "tokio")]
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// The number of workers.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
}

impl<T> fmt::Debug for QueueOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueOptions")
            .field("concurrency", &self.concurrency)
            .field("capacity", &self.capacity)
            .field("retry", &self.retry)
            .field("dead_letter", &self.dead_letter.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
