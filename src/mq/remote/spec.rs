//! What `QueueOptions::transport` records for a NATS queue: the shared connection, the
//! consumer's settings, and the codec captured as function pointers (so `register_with` needs
//! no serde bounds; `durable/options.rs` does the same).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::link::NatsLink;
use super::{Kind, Transport};
use crate::QueueOptions;

/// The default `ack_wait`: how long the server waits for an answer to a delivery before it
/// redelivers it (the server's own default).
pub(crate) const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// A `nats://` transport: one connection (made on first use), shared by its clones.
#[derive(Clone)]
pub(crate) struct NatsTransport {
    pub(crate) link: Arc<NatsLink>,
    pub(crate) ack_wait: Duration,
    /// Messages fetched ahead of the workers; `None`: as many as the queue has workers.
    pub(crate) prefetch: Option<usize>,
    /// JSON on the wire instead of postcard.
    pub(crate) json: bool,
}

impl NatsTransport {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            link: Arc::new(NatsLink::new(url, None)),
            ack_wait: DEFAULT_ACK_WAIT,
            prefetch: None,
            json: false,
        }
    }
}

impl fmt::Debug for NatsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("url", &self.link.url())
            .field("given_runtime", &self.link.given_runtime().is_some())
            .field("ack_wait", &self.ack_wait)
            .field("prefetch", &self.prefetch)
            .field("json", &self.json)
            .finish()
    }
}

impl Transport {
    /// How long the server waits for the answer to a delivery before it gives the message to
    /// another consumer (30 s by default; at least 100 ms). A handler that runs longer is not
    /// redelivered while it runs (it sends in-progress acks every `ack_wait / 3`); this is how
    /// soon a message whose consumer died is redelivered. Queues registered on the transport
    /// after this call use it; a queue's consumer keeps the setting it was created with on the
    /// server. No effect on a local transport.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = segmq::Transport::from_url("nats://127.0.0.1:4222").unwrap().ack_wait(Duration::from_secs(5));
    /// # drop(t);
    /// ```
    pub fn ack_wait(mut self, ack_wait: Duration) -> Self {
        if let Kind::Nats(n) = &mut self.kind {
            n.ack_wait = ack_wait.max(Duration::from_millis(100));
        }
        self
    }

    /// How many messages each process fetches from the server ahead of its workers, at most
    /// (at least 1). By default as many as the queue has workers (`concurrency`): a process
    /// then holds no more unstarted messages than it can start, and the other processes of the
    /// queue get the rest, which is what slow handlers (an LLM call) want. Each fetch is one
    /// round trip to the server, so short handlers want more: with `prefetch(256)` one round
    /// trip brings up to 256 messages. Messages fetched but not started when the queue stops
    /// are handed back to the server unrun. Queues registered on the transport after this call
    /// use it. No effect on a local transport.
    ///
    /// ```
    /// let t = segmq::Transport::from_url("nats://127.0.0.1:4222").unwrap().prefetch(256);
    /// # drop(t);
    /// ```
    pub fn prefetch(mut self, messages: usize) -> Self {
        if let Kind::Nats(n) = &mut self.kind {
            n.prefetch = Some(messages.max(1));
        }
        self
    }

    /// Messages of the queues registered on this transport after this call travel as JSON
    /// (`serde_json`), which services in other languages can read from the subject
    /// `segmq.<queue>`, instead of postcard (compact, Rust only; the default). Every process
    /// of a queue must use the same format: a message that does not decode is terminated and
    /// counted as dead-lettered. No effect on a local transport.
    ///
    /// ```
    /// let t = segmq::Transport::from_url("nats://127.0.0.1:4222").unwrap().json();
    /// # drop(t);
    /// ```
    pub fn json(mut self) -> Self {
        if let Kind::Nats(n) = &mut self.kind {
            n.json = true;
        }
        self
    }

    /// Runs the NATS client on `runtime`, the application's own, instead of on a private
    /// runtime of two threads: [`Publisher::publish_async`](crate::Publisher::publish_async)
    /// awaited on that runtime then runs in the caller's task, without handing each publish to
    /// another runtime and its ack back (on this machine, 0.97-1.04x the raw client's rate for
    /// one publishing task instead of 0.58x; `examples/nats_throughput.rs`). Queues registered
    /// on the returned transport share one new connection; transports cloned before this call
    /// keep theirs. No effect on a local transport.
    ///
    /// The runtime must be a multi-thread one with IO and time enabled
    /// ([`Builder::enable_all`](tokio::runtime::Builder::enable_all)) and must outlive the
    /// queues (once it is shut down, publishes fail with [`PublishError::Remote`](crate::PublishError)).
    /// A current-thread runtime is refused at registration with [`MqError::Remote`](crate::MqError):
    /// the blocking calls (`publish`, the workers' fetches and acks) wait for the client from
    /// their own threads, and a blocking call made on the runtime's one thread would wait for
    /// itself. A blocking call made on one of its workers runs in
    /// [`block_in_place`](tokio::task::block_in_place), so the worker's other tasks move to
    /// another thread meanwhile (and so it panics inside a `LocalSet`, as `block_in_place` does).
    /// A `publish_async` future dropped before it completes may or may not have published its
    /// message, as with the raw client (without a given runtime, a publish once started runs
    /// to its end as a task of the client's runtime).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rt = tokio::runtime::Runtime::new()?;
    /// let t = segmq::Transport::from_url("nats://127.0.0.1:4222")?.runtime(rt.handle().clone());
    /// # drop(t);
    /// # Ok(())
    /// # }
    /// ```
    pub fn runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        if let Kind::Nats(n) = &mut self.kind {
            n.link = Arc::new(NatsLink::new(n.link.url(), Some(runtime)));
        }
        self
    }

    /// The server URL, or `"local"`.
    pub fn url(&self) -> &str {
        match &self.kind {
            Kind::Local => "local",
            Kind::Nats(n) => n.link.url(),
        }
    }
}

/// Encodes a message for the wire.
pub(crate) type Encode<T> = fn(&T) -> Result<Vec<u8>, String>;
/// Decodes a message from the wire.
pub(crate) type Decode<T> = fn(&[u8]) -> Result<T, String>;

/// A queue's remote settings, as `QueueOptions::transport` captured them.
pub(crate) struct RemoteSpec<T> {
    pub(crate) transport: NatsTransport,
    pub(crate) encode: Encode<T>,
    pub(crate) decode: Decode<T>,
}

fn encode_postcard<T: Serialize>(data: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(data).map_err(|e| e.to_string())
}

fn decode_postcard<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| e.to_string())
}

fn encode_json<T: Serialize>(data: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(data).map_err(|e| e.to_string())
}

fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

impl<T: Serialize + DeserializeOwned> QueueOptions<T> {
    /// Puts the queue on `transport`: `local` keeps it in this process; `nats://` keeps it on
    /// the server, shared by every process that registers the same name there (the messages
    /// travel postcard-encoded, or as JSON with [`Transport::json`]). See the [`Transport`] docs for what maps to what.
    ///
    /// Refused at registration with a NATS transport: `durable(..)` (feature `durable`; the
    /// server persists), async handlers (`register_async`), and names other than ASCII letters,
    /// digits, `-` and `_`.
    ///
    /// ```
    /// use segmq::{QueueOptions, Transport};
    /// let t = Transport::from_url("local").unwrap();
    /// let o = QueueOptions::<String>::new(8).transport(&t);
    /// # drop(o);
    /// ```
    pub fn transport(mut self, transport: &Transport) -> Self {
        self.remote = match &transport.kind {
            Kind::Local => None,
            Kind::Nats(n) if n.json => Some(RemoteSpec {
                transport: n.clone(),
                encode: encode_json::<T>,
                decode: decode_json::<T>,
            }),
            Kind::Nats(n) => Some(RemoteSpec {
                transport: n.clone(),
                encode: encode_postcard::<T>,
                decode: decode_postcard::<T>,
            }),
        };
        self
    }
}
