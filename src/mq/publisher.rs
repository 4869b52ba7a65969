//! [`Publisher<T>`]: the typed handle that publishes to one queue with no lookup and no lock.

use std::fmt;
use std::sync::Arc;

use super::core::QueueCore;
use super::msg::Envelope;
use super::{Msg, PublishError, QueueStats};
use crate::TrySendError;

/// A typed handle to one queue of an [`Mq`](crate::Mq): publishing is one lock-free push.
///
/// Returned by [`Mq::register`](crate::Mq::register) and [`Mq::publisher`](crate::Mq::publisher);
/// clone it freely (it is an `Arc`).
///
/// ```
/// use segmq::{Mq, Msg};
/// let mq = Mq::new();
/// let p = mq.register("q", 1, |_: &Msg<&str>| Ok::<_, std::io::Error>(())).unwrap();
/// assert_eq!(p.publish("a").unwrap(), 0);
/// assert_eq!(p.clone().publish("b").unwrap(), 1);
/// mq.start().unwrap();
/// mq.stop();
/// assert!(p.publish("c").unwrap_err().is_closed());
/// ```
pub struct Publisher<T> {
    pub(crate) core: Arc<QueueCore<T>>,
}

impl<T: Send + 'static> Publisher<T> {
    /// Publishes `data`; returns its message ID (the queue position it took: 0, 1, 2, ...).
    ///
    /// Never blocks on an unbounded queue; on a bounded one (`QueueOptions::capacity`) waits
    /// for room. Fails with `Closed(data)` once the `Mq` is stopped.
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("ids", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(p.publish(1).unwrap(), 0);
    /// assert_eq!(p.publish(2).unwrap(), 1);
    /// ```
    #[inline]
    pub fn publish(&self, data: T) -> Result<u64, PublishError<T>> {
        let published = self.push(data);
        self.count(&published);
        published
    }

    /// The metrics of a publish (feature `metrics`; nothing without it).
    #[inline(always)]
    fn count<R>(&self, published: &Result<u64, R>) {
        if published.is_ok() {
            self.core.metrics.published(&self.core.queue);
        }
    }

    /// [`publish`](Self::publish) without the metrics.
    #[inline(always)]
    fn push(&self, data: T) -> Result<u64, PublishError<T>> {
        #[cfg(feature = "nats")]
        if let Some(r) = &self.core.remote {
            return r.publish(|| self.core.queue.is_closed(), data, true);
        }
        #[cfg(feature = "durable")]
        if let Some(d) = &self.core.durable {
            return d.publish(&self.core.queue, data);
        }
        if self.core.drop_oldest {
            return self.publish_displacing(data);
        }
        self.core
            .queue
            .chan
            .send_blocking(Envelope::fresh(data), None)
            .map_err(|e| PublishError::Closed(e.into_inner().data))
    }

    /// A publish under the drop-oldest policy: never waits; a full queue's oldest message is
    /// handed to `QueueCore::displaced`.
    #[cold]
    fn publish_displacing(&self, data: T) -> Result<u64, PublishError<T>> {
        match self.core.queue.chan.force_send(Envelope::fresh(data)) {
            Ok((id, displaced)) => {
                if let Some((seq, old)) = displaced {
                    self.core.displaced(seq, old);
                }
                Ok(id)
            }
            Err(env) => Err(PublishError::Closed(env.data)),
        }
    }

    /// Publishes `data` if that is possible without waiting: `Full(data)` on a full bounded
    /// queue, `Closed(data)` after stop.
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("t", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(p.try_publish(9).unwrap(), 0);
    /// ```
    #[inline]
    pub fn try_publish(&self, data: T) -> Result<u64, PublishError<T>> {
        let published = self.try_push(data);
        self.count(&published);
        published
    }

    /// [`try_publish`](Self::try_publish) without the metrics.
    #[inline(always)]
    fn try_push(&self, data: T) -> Result<u64, PublishError<T>> {
        #[cfg(feature = "nats")]
        if let Some(r) = &self.core.remote {
            return r.publish(|| self.core.queue.is_closed(), data, false);
        }
        #[cfg(feature = "durable")]
        if let Some(d) = &self.core.durable {
            return d.publish(&self.core.queue, data);
        }
        if self.core.drop_oldest {
            return self.publish_displacing(data);
        }
        self.core
            .queue
            .chan
            .try_send(Envelope::fresh(data))
            .map_err(|e| match e {
                TrySendError::Full(env) => PublishError::Full(env.data),
                TrySendError::Closed(env) => PublishError::Closed(env.data),
            })
    }

    /// Publishes from async code; on a bounded queue it will await room instead of blocking
    /// the thread. (On an unbounded queue it completes at once.)
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("a", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(futures_executor::block_on(p.publish_async(3)).unwrap(), 0);
    /// ```
    pub async fn publish_async(&self, data: T) -> Result<u64, PublishError<T>> {
        let published = self.push_async(data).await;
        self.count(&published);
        published
    }

    /// [`publish_async`](Self::publish_async) without the metrics.
    async fn push_async(&self, data: T) -> Result<u64, PublishError<T>> {
        #[cfg(feature = "nats")]
        if let Some(r) = &self.core.remote {
            return r.publish_async(self.core.queue.is_closed(), data).await;
        }
        #[cfg(feature = "durable")]
        if let Some(d) = &self.core.durable {
            return d.publish(&self.core.queue, data);
        }
        if self.core.drop_oldest {
            return self.publish_displacing(data);
        }
        crate::send::SendSeq::new(&self.core.queue.chan, Envelope::fresh(data))
            .await
            .map_err(|e| PublishError::Closed(e.into_inner().data))
    }

    /// Publishes every item in order; returns their IDs (increasing, not necessarily
    /// consecutive when other publishers interleave).
    ///
    /// If a publish fails, the error holds the refused item and every item after it, in order
    /// (the items before it were published; their count is `total - error.into_inner().len()`).
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("b", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(p.publish_batch([1, 2, 3]).unwrap(), [0, 1, 2]);
    /// ```
    pub fn publish_batch<I>(&self, items: I) -> Result<Vec<u64>, PublishError<Vec<T>>>
    where
        I: IntoIterator<Item = T>,
    {
        #[cfg(feature = "nats")]
        if let Some(r) = &self.core.remote {
            let ids = r.publish_batch(self.core.queue.is_closed(), items.into_iter().collect());
            return self.count_batch(ids);
        }
        #[cfg(feature = "durable")]
        if let Some(d) = &self.core.durable {
            let ids = d.publish_batch(&self.core.queue, items.into_iter().collect());
            return self.count_batch(ids);
        }
        // One push per item: the queue has no batch push on this branch yet.
        let mut items = items.into_iter();
        let mut ids = Vec::with_capacity(items.size_hint().0);
        while let Some(item) = items.next() {
            match self.publish(item) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    return Err(e.map(|first| std::iter::once(first).chain(items).collect()));
                }
            }
        }
        Ok(ids)
    }

    /// The metrics of a batch published in one go (remote and durable queues).
    #[cfg(any(feature = "nats", feature = "durable"))]
    fn count_batch<R>(&self, ids: Result<Vec<u64>, R>) -> Result<Vec<u64>, R> {
        for _ in ids.iter().flatten() {
            self.count(&Ok::<_, ()>(0));
        }
        ids
    }

    /// Takes the messages that [`Mq::stop_timeout`](crate::Mq::stop_timeout) left unhandled
    /// (still queued at the deadline, or waiting for a retry then), with their IDs and attempt
    /// numbers. Each leftover is returned once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use segmq::{Mq, Msg};
    /// let mq = Mq::new();
    /// let p = mq.register("never-started", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// p.publish(1).unwrap();
    /// let report = mq.stop_timeout(Duration::from_millis(10)); // never started: nothing ran
    /// assert_eq!(report.left(), 1);
    /// let left = p.drain_left();
    /// assert_eq!((left[0].id, left[0].data), (0, 1));
    /// assert!(p.drain_left().is_empty());
    /// ```
    pub fn drain_left(&self) -> Vec<Msg<T>> {
        self.core.take_left()
    }

    /// The queue's name.
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("name", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// assert_eq!(p.queue(), "name");
    /// ```
    pub fn queue(&self) -> &str {
        self.core.name
    }

    /// The queue's counters (same as [`Mq::stats`](crate::Mq::stats)).
    ///
    /// ```
    /// # use segmq::{Mq, Msg};
    /// # let mq = Mq::new();
    /// let p = mq.register("s", 1, |_: &Msg<u8>| Ok::<_, std::io::Error>(())).unwrap();
    /// p.publish(1).unwrap();
    /// assert_eq!(p.stats().depth, 1);
    /// ```
    pub fn stats(&self) -> QueueStats {
        self.core.stats()
    }
}

impl<T> Clone for Publisher<T> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

impl<T> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Publisher");
        d.field("queue", &self.core.name);
        #[cfg(feature = "tokio")]
        d.field("async_runtime", &self.async_runtime());
        d.finish_non_exhaustive()
    }
}
