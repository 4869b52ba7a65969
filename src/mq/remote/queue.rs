//! [`Remote<T>`]: a queue's stream on the server, and publishing to it.
//!
//! # Invariants
//!
//! 1. A publish returns `Ok(id)` only after the server's ack: the message is stored in the
//!    stream, and `id` is its stream sequence.
//! 2. Every publish carries a `Nats-Msg-Id` unique to this publish (`<random>-<counter>`): a
//!    re-send of the same publish (an internal retry after a timeout) is stored once.
//! 3. A refused publish gives the data back: `Full` (the stream is at `max_msgs`), `Closed`
//!    (the `Mq` was stopped) or `Remote` (the server did not confirm).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{
    PublishAckFuture, PublishError as NatsPublishError, PublishErrorKind,
};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::ErrorCode;
use bytes::Bytes;
use tokio::runtime::Handle;

use super::link::{Conn, REQUEST_TIMEOUT};
use super::spec::{Decode, Encode};
use super::{RemoteError, RemoteSpec};
use crate::mq::{MqError, PublishError};

/// The longest a blocking publish sleeps between two tries while the stream is full.
const FULL_BACKOFF_MAX: Duration = Duration::from_millis(50);

/// `fut` (a publish and its ack), given up as timed out after twice the request timeout: the
/// ack has its own timeout, but the send before it waits for room in the client's buffer,
/// which fills while the connection is down.
async fn bounded<F>(fut: F) -> Result<PublishAck, NatsPublishError>
where
    F: std::future::Future<Output = Result<PublishAck, NatsPublishError>>,
{
    match tokio::time::timeout(REQUEST_TIMEOUT * 2, fut).await {
        Ok(r) => r,
        Err(_) => Err(NatsPublishError::new(PublishErrorKind::TimedOut)),
    }
}

/// The server side of one queue.
pub(crate) struct Remote<T> {
    pub(crate) conn: Arc<Conn>,
    pub(crate) queue: &'static str,
    pub(crate) subject: String,
    pub(crate) stream: String,
    pub(crate) ack_wait: Duration,
    /// Messages fetched ahead of the workers (`Transport::prefetch`); `None`: `concurrency`.
    pub(crate) prefetch: Option<usize>,
    encode: Encode<T>,
    pub(crate) decode: Decode<T>,
    /// The random half of this queue handle's message IDs (invariant 2).
    id_prefix: String,
    /// The counter half (Relaxed: only uniqueness matters, `fetch_add` gives it).
    next_id: AtomicU64,
}

/// Checks that a queue name can name a stream and a subject.
fn check_remote_name(name: &str) -> Result<(), MqError> {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Ok(());
    }
    Err(MqError::InvalidName {
        name: name.to_owned(),
        reason: "a queue on a NATS transport may hold only ASCII letters, digits, `-` and `_` \
                 (it names a stream and a subject)",
    })
}

/// 64 random bits from std's per-process hash keys (no extra dependency).
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

impl<T: Send + 'static> Remote<T> {
    /// Connects (on the transport's first queue) and makes sure the queue's stream exists
    /// with a compatible configuration.
    pub(crate) fn open(
        spec: RemoteSpec<T>,
        queue: &'static str,
        capacity: Option<usize>,
    ) -> Result<Self, MqError> {
        check_remote_name(queue)?;
        let link = &spec.transport.link;
        let conn = link.connect(queue).map_err(MqError::Remote)?;
        let stream_name = format!("SEGMQ_{queue}");
        let subject = format!("segmq.{queue}");
        let max_messages = match capacity {
            None => -1,
            Some(0) => {
                return Err(MqError::Unsupported {
                    queue: queue.to_owned(),
                    what: "a bounded queue of capacity 0",
                })
            }
            Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        };
        let config = stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            retention: RetentionPolicy::WorkQueue,
            storage: StorageType::File,
            max_messages,
            discard: DiscardPolicy::New,
            ..Default::default()
        };
        let js = conn.js.clone();
        let fail = |what: String| MqError::Remote(RemoteError::new(queue, &conn.url, what));
        let info = conn
            .run(async move {
                let mut s = js.get_or_create_stream(config).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(s.info().await?.config.clone())
            })
            .map_err(|e| fail(format!("cannot create or read stream `{stream_name}`: {e}")))?;
        if info.retention != RetentionPolicy::WorkQueue || !info.subjects.contains(&subject) {
            return Err(fail(format!(
                "stream `{stream_name}` exists with another configuration (retention {:?}, \
                 subjects {:?}); segmq needs a work-queue stream on `{subject}`",
                info.retention, info.subjects
            )));
        }
        if info.max_messages != max_messages || info.discard != DiscardPolicy::New {
            return Err(fail(format!(
                "stream `{stream_name}` exists with max_msgs {} (discard {:?}); this queue asks \
                 for {max_messages} (discard new): give every process the same capacity",
                info.max_messages, info.discard
            )));
        }
        Ok(Self {
            queue,
            subject,
            stream: stream_name,
            ack_wait: spec.transport.ack_wait,
            prefetch: spec.transport.prefetch,
            encode: spec.encode,
            decode: spec.decode,
            id_prefix: format!("{:016x}", random_u64()),
            next_id: AtomicU64::new(0),
            conn,
        })
    }

    fn error(&self, what: impl std::fmt::Display) -> RemoteError {
        RemoteError::new(self.queue, &self.conn.url, what)
    }

    /// Encodes `data` into a publish with a fresh message ID.
    fn prepare(&self, data: &T) -> Result<PublishMessage, RemoteError> {
        let bytes = (self.encode)(data).map_err(|e| self.error(format!("cannot encode: {e}")))?;
        let id = self.next_id.fetch_add(1, Relaxed);
        Ok(PublishMessage::build()
            .payload(Bytes::from(bytes))
            .message_id(format!("{}-{id}", self.id_prefix)))
    }

    /// Publishes `data`; with `wait_for_room`, waits while the stream is full (and the `Mq` is
    /// not stopped: `closed` is asked again before each new try).
    pub(crate) fn publish(
        &self,
        closed: impl Fn() -> bool,
        data: T,
        wait_for_room: bool,
    ) -> Result<u64, PublishError<T>> {
        if closed() {
            return Err(PublishError::Closed(data));
        }
        let msg = match self.prepare(&data) {
            Ok(m) => m,
            Err(e) => return Err(PublishError::Remote(data, e)),
        };
        let mut backoff = Duration::from_millis(1);
        loop {
            let js = self.conn.js.clone();
            let subject = self.subject.clone();
            let attempt = msg.clone();
            let outcome = self.conn.run(bounded(async move {
                let ack = js.send_publish(subject, attempt).await?;
                ack.await
            }));
            match outcome {
                Ok(ack) => return Ok(ack.sequence),
                Err(e) => {
                    let e = self.classify(e);
                    if !(e.is_full() && wait_for_room) {
                        return Err(if e.is_full() {
                            PublishError::Full(data)
                        } else {
                            PublishError::Remote(data, e)
                        });
                    }
                }
            }
            // Full and asked to wait: room appears when a consumer acks, on the server's side,
            // which sends no signal to publishers; try again after a short, growing pause.
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(FULL_BACKOFF_MAX);
            if closed() {
                return Err(PublishError::Closed(data));
            }
        }
    }

    /// Publishes from async code (on the connection's runtime, awaited from any executor).
    pub(crate) async fn publish_async(
        &self,
        closed: bool,
        data: T,
    ) -> Result<u64, PublishError<T>> {
        if closed {
            return Err(PublishError::Closed(data));
        }
        let msg = match self.prepare(&data) {
            Ok(m) => m,
            Err(e) => return Err(PublishError::Remote(data, e)),
        };
        let js = self.conn.js.clone();
        let subject = self.subject.clone();
        let publish = bounded(async move {
            let ack = js.send_publish(subject, msg).await?;
            ack.await
        });
        // On the application's runtime (`Transport::runtime`) and awaited from a tokio task:
        // run it here, in the caller's task. Otherwise the caller may be on any executor (no
        // tokio timer for `bounded`), so the publish runs as a task of the client's runtime.
        let outcome = if self.conn.shared_runtime && Handle::try_current().is_ok() {
            publish.await
        } else {
            match self.conn.handle.spawn(publish).await {
                Ok(outcome) => outcome,
                Err(join) => {
                    return Err(PublishError::Remote(
                        data,
                        self.error(format!("the publish task failed: {join}")),
                    ))
                }
            }
        };
        match outcome {
            Ok(ack) => Ok(ack.sequence),
            Err(e) => {
                let e = self.classify(e);
                Err(if e.is_full() {
                    PublishError::Full(data)
                } else {
                    PublishError::Remote(data, e)
                })
            }
        }
    }

    /// Publishes every item, pipelined: all are sent, then every ack is awaited. On failure the
    /// error holds the items the server did not confirm, in order (the confirmed ones stay
    /// published, their IDs are lost with the error).
    pub(crate) fn publish_batch(
        &self,
        closed: bool,
        items: Vec<T>,
    ) -> Result<Vec<u64>, PublishError<Vec<T>>> {
        if closed {
            return Err(PublishError::Closed(items));
        }
        let mut msgs = Vec::with_capacity(items.len());
        for item in &items {
            match self.prepare(item) {
                Ok(m) => msgs.push(m),
                Err(e) => return Err(PublishError::Remote(items, e)),
            }
        }
        let js = self.conn.js.clone();
        let subject = self.subject.clone();
        let acks = self.conn.run(async move {
            let mut pending: Vec<Result<PublishAckFuture, _>> = Vec::with_capacity(msgs.len());
            for m in msgs {
                pending.push(js.send_publish(subject.clone(), m).await);
            }
            let mut acks = Vec::with_capacity(pending.len());
            for p in pending {
                acks.push(match p {
                    Ok(f) => f.await,
                    Err(e) => Err(e),
                });
            }
            acks
        });
        let mut ids = Vec::with_capacity(acks.len());
        let mut refused = Vec::new();
        let mut first_error = None;
        for (item, ack) in items.into_iter().zip(acks) {
            match ack {
                Ok(a) => ids.push(a.sequence),
                Err(e) => {
                    first_error.get_or_insert(self.classify(e));
                    refused.push(item);
                }
            }
        }
        match first_error {
            None => Ok(ids),
            Some(e) if e.is_full() => Err(PublishError::Full(refused)),
            Some(e) => Err(PublishError::Remote(refused, e)),
        }
    }

    /// A client error as a [`RemoteError`], with `Full` recognised (`maximum messages
    /// exceeded`, error 10077, on a stream with `discard: new`).
    fn classify(&self, e: NatsPublishError) -> RemoteError {
        let kind = e.kind();
        let full = kind == PublishErrorKind::Other
            && std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
                .is_some_and(|s| s.error_code() == ErrorCode::STREAM_STORE_FAILED);
        let timed_out = kind == PublishErrorKind::TimedOut;
        self.error(format!("publish not confirmed: {e}"))
            .with_flags(full, timed_out)
    }
}
