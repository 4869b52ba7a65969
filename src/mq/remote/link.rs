//! The connection of a NATS transport: made by the first queue registered on it, shared by
//! every queue on it (and by the transport's clones), closed when the last of them is gone.
//!
//! The client runs on a small tokio runtime that the connection owns (async-nats spawns its
//! connection task there), or on the application's own multi-thread runtime when the transport
//! was given one (`Transport::runtime`): then `publish_async` awaited on that runtime runs in
//! the caller's task, without a hop between runtimes (`queue.rs`). The blocking API
//! ([`Conn::run`]) waits for a future on it from the caller's thread: `block_on` from a thread
//! outside any runtime (the worker threads, a plain `main`), a spawn plus a one-shot hand-off
//! from a thread inside one (where `block_on` would panic), inside `block_in_place` when that
//! thread is a worker of a multi-thread runtime, so that a blocked worker never holds up the
//! tasks the hand-off waits for. An owned runtime is shut down in the background when the
//! connection drops, so dropping it from inside a runtime is safe too; a given one is left
//! alone.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use tokio::runtime::{Builder, Handle, Runtime, RuntimeFlavor};

use super::RemoteError;
use crate::mq::core::lock;
use crate::sync::Mutex;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a publish waits for the server's ack (async-nats' default).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A transport's server and, once made, its connection.
pub(crate) struct NatsLink {
    url: String,
    /// The application's runtime to run the client on (`Transport::runtime`); `None`: a
    /// runtime of the connection's own.
    runtime: Option<Handle>,
    conn: Mutex<Option<Arc<Conn>>>,
}

impl NatsLink {
    pub(crate) fn new(url: &str, runtime: Option<Handle>) -> Self {
        Self {
            url: url.to_owned(),
            runtime,
            conn: Mutex::new(None),
        }
    }

    /// The application's runtime this link runs its client on, if it was given one.
    pub(crate) fn given_runtime(&self) -> Option<&Handle> {
        self.runtime.as_ref()
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The connection, made now if this is the first use. `queue` names the error.
    pub(crate) fn connect(&self, queue: &str) -> Result<Arc<Conn>, RemoteError> {
        // Held while connecting: two registrations racing make one connection.
        let mut slot = lock(&self.conn);
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let fail = |what: String| RemoteError::new(queue, &self.url, what);
        let (runtime, handle) = match &self.runtime {
            Some(given) if given.runtime_flavor() != RuntimeFlavor::MultiThread => {
                return Err(fail(
                    "the runtime given to `Transport::runtime` is not a multi-thread one: \
                     segmq's blocking calls would wait on the thread that must run the client"
                        .to_owned(),
                ));
            }
            Some(given) => (None, given.clone()),
            None => {
                let owned = Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("segmq-nats")
                    .enable_all()
                    .build()
                    .map_err(|e| fail(format!("cannot start the client's runtime: {e}")))?;
                let handle = owned.handle().clone();
                (Some(owned), handle)
            }
        };
        let url = self.url.clone();
        let client = run_on(&handle, runtime.is_none(), async move {
            async_nats::ConnectOptions::new()
                .name("segmq")
                .connection_timeout(CONNECT_TIMEOUT)
                .connect(url)
                .await
        })
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
        // The context spawns its ack task: inside the runtime.
        let entered = handle.enter();
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .backpressure_on_inflight(true)
            .build(client.clone());
        drop(entered);
        let conn = Arc::new(Conn {
            shared_runtime: runtime.is_none(),
            handle,
            runtime,
            client,
            js,
            url: self.url.clone(),
        });
        tracing::info!(server = %self.url, "mq: connected to NATS");
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

/// A live connection: the runtime, the client and its JetStream context.
pub(crate) struct Conn {
    /// The runtime the connection owns; `None` on a runtime given by the application.
    runtime: Option<Runtime>,
    /// The client runs on the application's runtime (`Transport::runtime`).
    pub(crate) shared_runtime: bool,
    pub(crate) handle: Handle,
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) url: String,
}

impl Conn {
    /// Runs `fut` on the connection's runtime and waits for it from this thread.
    pub(crate) fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        run_on(&self.handle, self.shared_runtime, fut)
    }
}

/// Runs `fut` on `handle`'s runtime and waits for it (see the module docs); `shared`: the
/// runtime is the application's (`Transport::runtime`).
fn run_on<F>(handle: &Handle, shared: bool, fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if Handle::try_current().is_err() {
        return handle.block_on(fut);
    }
    // Inside some runtime: `block_on` would panic. A one-shot hand-off of the result (std's
    // channel: this is not a synchronisation step loom could model, the runtime's is).
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let _ = tx.send(fut.await);
    });
    let wait = move || {
        rx.recv()
            .expect("the NATS client's runtime is alive while its connection is")
    };
    // On the application's runtime, a worker hands its other tasks to another thread while it
    // waits: the spawned task may need that worker (every worker blocked here would be a
    // deadlock). An owned runtime has workers of its own, which nobody else blocks.
    if shared && Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        tokio::task::block_in_place(wait)
    } else {
        wait()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn").field("url", &self.url).finish()
    }
}
