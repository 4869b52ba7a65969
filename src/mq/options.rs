//! [`QueueOptions`]: concurrency, capacity, retry policy and dead-letter handler of one queue.

use std::fmt;
use std::sync::Arc;

use super::{Msg, RetryPolicy};

pub(crate) type DeadLetter<T> = Arc<dyn Fn(Msg<T>) + Send + Sync>;

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
        self.dead_letter = Some(Arc::new(handler));
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
            .finish_non_exhaustive()
    }
}
