//! Registration hooks of remote queues: attaching the server-side queue at registration,
//! publish-only registration, and the server's gauges.

use std::sync::Arc;

use super::queue::Remote;
use super::{RemoteError, RemoteSpec};
use crate::mq::core::QueueCore;
use crate::mq::{Mq, MqError, Publisher, QueueOptions};

/// Called by `Mq::register_erased` (one line): opens the queue's stream when its options name
/// a NATS transport.
pub(crate) fn attach<T: Send + 'static>(
    core: &mut QueueCore<T>,
    spec: Option<RemoteSpec<T>>,
    capacity: Option<usize>,
) -> Result<(), MqError> {
    if let Some(spec) = spec {
        core.remote = Some(Box::new(Remote::open(spec, core.name, capacity)?));
    }
    Ok(())
}

/// Called by `Mq::register_erased` for a durable queue: refuses it on a NATS transport.
#[cfg(feature = "durable")]
pub(crate) fn refuse_durable<T>(core: &QueueCore<T>) -> Result<(), MqError> {
    if core.remote.is_none() {
        return Ok(());
    }
    Err(MqError::Unsupported {
        queue: core.name.to_owned(),
        what: "`durable(..)` on a queue with a NATS transport (the server already persists \
               the queue: drop one of the two)",
    })
}

/// The server's counts for a remote queue (cluster-wide, read with one request each); see
/// [`Publisher::remote_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStats {
    /// Messages the stream holds now (waiting, in flight, or waiting for a retry).
    pub messages: u64,
    /// The stream sequence of the last message stored (the last ID handed out).
    pub last_id: u64,
    /// Messages no consumer has been given yet (0 when the queue has no consumer yet).
    pub pending: u64,
    /// Messages given to a consumer and not answered yet, or NAKed and waiting for their retry.
    pub in_flight: u64,
    /// Messages delivered more than once and not answered yet.
    pub redelivered: u64,
}

impl<T: Send + 'static> Remote<T> {
    /// The server's counts for this queue (two requests).
    pub(crate) fn server_stats(&self) -> Result<RemoteStats, MqError> {
        let js = self.conn.js.clone();
        let (stream, consumer) = (self.stream.clone(), self.queue);
        let fail = |e: String| MqError::Remote(RemoteError::new(self.queue, &self.conn.url, e));
        self.conn
            .run(async move {
                let mut s = js.get_stream(&stream).await.map_err(|e| e.to_string())?;
                let info = s.info().await.map_err(|e| e.to_string())?;
                let mut stats = RemoteStats {
                    messages: info.state.messages,
                    last_id: info.state.last_sequence,
                    ..RemoteStats::default()
                };
                if let Ok(mut c) = s
                    .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
                    .await
                {
                    let c = c.info().await.map_err(|e| e.to_string())?;
                    stats.pending = c.num_pending;
                    stats.in_flight = c.num_ack_pending as u64;
                    stats.redelivered = c.num_redelivered as u64;
                }
                Ok::<_, String>(stats)
            })
            .map_err(fail)
    }
}

impl<T: Send + 'static> Publisher<T> {
    /// The server's counts for this queue, which every process shares (the local counters are
    /// [`stats`](Self::stats)). Asks the server (two requests): do not call it per message.
    ///
    /// Errors: [`MqError::Unsupported`] for a local queue, [`MqError::Remote`] if the server
    /// does not answer.
    pub fn remote_stats(&self) -> Result<RemoteStats, MqError> {
        let Some(r) = &self.core.remote else {
            return Err(MqError::Unsupported {
                queue: self.core.name.to_owned(),
                what: "server counts of a local queue (use `stats`)",
            });
        };
        r.server_stats()
    }

    /// Whether the queue lives on a server (a NATS transport).
    pub fn is_remote(&self) -> bool {
        self.core.remote.is_some()
    }
}

impl Mq {
    /// Registers a queue that this process only publishes to: no handler, no workers; other
    /// processes consume it. The options must name a NATS transport
    /// ([`QueueOptions::transport`]); their concurrency is ignored, their capacity must match
    /// the consumers' (it is the stream's bound).
    ///
    /// Errors: [`MqError::Unsupported`] for a local queue (nothing would ever consume it), and
    /// those of [`register_with`](Mq::register_with).
    pub fn register_publisher<T: Send + 'static>(
        &self,
        name: &str,
        options: QueueOptions<T>,
    ) -> Result<Publisher<T>, MqError> {
        if options.remote.is_none() {
            return Err(MqError::Unsupported {
                queue: name.to_owned(),
                what: "a publish-only queue without a NATS transport (nothing would consume it)",
            });
        }
        let options = QueueOptions {
            concurrency: options.concurrency.max(1),
            ..options
        };
        self.register_erased(name, options, Box::new(|_: &Arc<QueueCore<T>>| Ok(())))
    }
}
