//! A remote queue's consumers in this process: one pull task and `concurrency` worker threads.
//!
//! # Design
//!
//! The pull task asks the queue's durable consumer for at most `prefetch` messages at a time
//! (`Transport::prefetch`, by default `concurrency`; one outstanding pull request per process,
//! as the server's `max_waiting` wants) and pushes them into a bounded hand-off queue of
//! `prefetch` slots; so this process holds at most `prefetch` fetched messages that no handler
//! has started, besides the ones running. The
//! workers take from the hand-off queue and run the handler, then queue the answer for the
//! queue's answer task (`answers.rs`), which sends it to the server, so a worker never waits
//! for the client's runtime.
//!
//! # Invariants
//!
//! 1. Every delivery a worker takes is answered exactly once: `Ack` (handled), `Nak(delay)`
//!    (retry: the policy's delay, never a plain NAK), `Term` (dead-lettered, or undecodable),
//!    or a plain NAK (handed back unstarted at stop). A delivery nobody answers (the process
//!    died) is redelivered by the server after `ack_wait`, with its delivery count raised.
//! 2. While a handler runs, an in-progress ack goes out every `ack_wait / 3`, so the server
//!    does not give the message to another consumer meanwhile.
//! 3. Stop: the local queue's closed flag tells the pull task to stop asking; it finishes the
//!    pull request it has (at most [`PULL_EXPIRES`]) and then closes the hand-off queue (also
//!    when it ends any other way: a guard closes it on drop). A worker does not start a
//!    delivery it takes after the close: it sets it aside, and hands everything set aside back
//!    (a plain NAK) when it exits, once the hand-off queue is closed and empty. Handing back
//!    only then matters: while this process still has a pull request open, the server would
//!    redeliver a NAKed message straight to it, and that copy, arriving after the request's
//!    subscription is gone, would wait out `ack_wait`. A worker leaves only once the answer
//!    task has sent and flushed every worker's answers (`answers.rs`, invariant 2), so they
//!    have reached the server when `stop` returns.
//! 4. Per-process accounting as for local queues (`stats.rs`): a delivery is `popped` when a
//!    worker starts it; a retry (NAK with delay) counts as `requeued`, since the message goes
//!    back to the server; so `published` (= popped - requeued) is the number of messages this
//!    process finished with or holds.
//! 5. `attempt()` is the server's delivery count, which also counts deliveries that never
//!    reached a decision: handed back unstarted at a stop, or lost with a consumer that died.
//!    So a delivery past `max_attempts` still runs the handler (as a last attempt: a failure
//!    dead-letters it), up to [`UNDECIDED_DELIVERIES`] past it; beyond that the message is
//!    taken to kill its consumers and is dead-lettered without running.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind};
use bytes::Bytes;
use futures_util::StreamExt;

use super::answers::{self, AnswerSender};
use super::queue::Remote;
use super::RemoteError;
use crate::mq::core::{count_failure, lock, LiveGuard, QueueCore};
use crate::mq::decision::{decide, Decision};
use crate::mq::observe;
use crate::mq::retry::XorShift;
use crate::mq::skip::DeadLetterReason;
use crate::mq::stats::WorkerStats;
use crate::mq::user_code::{call_handler, drop_failure, drop_quietly, BoxError};
use crate::mq::{MqError, Msg};
use crate::sync::{thread, Mutex};
use crate::Queue;

/// How long one pull request waits for messages on the server; also the longest a stop waits
/// for the pull task.
pub(crate) const PULL_EXPIRES: Duration = Duration::from_millis(500);
/// Pause after a failed pull request (the server is down or restarting; the client reconnects).
const PULL_RETRY: Duration = Duration::from_millis(100);

/// Deliveries past `max_attempts` that still run the handler (invariant 5).
pub(crate) const UNDECIDED_DELIVERIES: u32 = 5;

type Delivery = jetstream::Message;

/// Creates (or joins) the queue's durable consumer.
fn open_consumer<T: Send + 'static>(
    remote: &Remote<T>,
    concurrency: usize,
) -> Result<PullConsumer, MqError> {
    let config = pull::Config {
        durable_name: Some(remote.queue.to_owned()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: remote.ack_wait,
        // segmq decides when a message is exhausted (the server would keep such a message
        // in a work-queue stream for ever).
        max_deliver: -1,
        // Cluster-wide: every process's workers plus the messages waiting for a retry.
        max_ack_pending: i64::try_from(concurrency.saturating_mul(4).max(1000)).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let js = remote.conn.js.clone();
    let (stream, queue) = (remote.stream.clone(), remote.queue);
    remote
        .conn
        .run(async move {
            let s = js.get_stream(stream).await?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                s.get_or_create_consumer(queue, config).await?,
            )
        })
        .map_err(|e| {
            MqError::Remote(RemoteError::new(
                remote.queue,
                &remote.conn.url,
                format!("cannot create or join the consumer `{}`: {e}", remote.queue),
            ))
        })
}

/// Starts the consumers of a remote queue: the pull task and the worker threads.
pub(crate) fn spawn_workers<T, F, E>(
    core: &Arc<QueueCore<T>>,
    handler: &Arc<F>,
) -> Result<(), MqError>
where
    T: Send + 'static,
    F: Fn(&Msg<T>) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    let remote = core
        .remote
        .as_ref()
        .expect("spawn_workers is only called for remote queues");
    let consumer = open_consumer(remote, core.concurrency)?;
    let prefetch = remote.prefetch.unwrap_or(core.concurrency).max(1);
    let handoff: Arc<Queue<Delivery>> = Arc::new(Queue::bounded(prefetch));
    let answers = answers::start(&remote.conn, remote.queue);
    let aside: Arc<Mutex<Vec<Delivery>>> = Arc::new(Mutex::new(Vec::new()));
    let running: Running = (0..core.concurrency).map(|_| Mutex::new(None)).collect();
    // The consumer's own ack_wait: another process may have created it with another one.
    start_ticker(remote, &running, consumer.cached_info().config.ack_wait);
    let mut spawned = Ok(());
    {
        // Held while spawning, as in `worker.rs::spawn_threads`.
        let mut threads = lock(&core.threads);
        for worker in 0..core.concurrency {
            let (w, live) = core.enter();
            let (core2, handler) = (core.clone(), handler.clone());
            let (handoff, aside, running) = (handoff.clone(), aside.clone(), running.clone());
            let answers = answers.clone_for_worker();
            let body = move || {
                let _live: LiveGuard<T> = live;
                run_worker(
                    &core2, worker, &w, &*handler, &handoff, &aside, &running, answers,
                );
            };
            match thread::Builder::new()
                .name(format!("mq:{}:{worker}", core.name))
                .spawn(body)
            {
                Ok(t) => threads.push(t),
                Err(e) => {
                    tracing::error!(queue = %core.name, worker, "mq: cannot spawn a worker thread: {e}");
                    spawned = Err(MqError::Spawn {
                        queue: core.name.to_string(),
                        reason: e.to_string(),
                    });
                    break;
                }
            }
        }
    }
    // The workers hold the answer task's other handles: it ends when the last one leaves.
    drop(answers);
    // Started even after a failed spawn: the workers that did start need it (and its close).
    remote
        .conn
        .handle
        .spawn(pull_loop(core.clone(), consumer, handoff, prefetch));
    spawned
}

/// Closes the hand-off queue when the pull task ends, however it ends (invariant 3).
struct CloseOnDrop(Arc<Queue<Delivery>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The pull task (invariant 3).
async fn pull_loop<T: Send + 'static>(
    core: Arc<QueueCore<T>>,
    consumer: PullConsumer,
    handoff: Arc<Queue<Delivery>>,
    batch: usize,
) {
    let _close = CloseOnDrop(handoff.clone());
    let mut closing = false;
    // Logged once per outage, not once per retry.
    let mut failing = false;
    while !closing && !core.queue.is_closed() {
        let want = batch.saturating_sub(handoff.len()).max(1);
        let request = consumer
            .batch()
            .max_messages(want)
            .expires(PULL_EXPIRES)
            .messages();
        // Never given up half-way: once the request may have reached the server, messages
        // for it will come, and dropping its subscription would strand them until ack_wait.
        let mut messages = match request.await {
            Ok(m) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(queue = %core.name, "mq: pulling again");
                }
                m
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(queue = %core.name, "mq: pull request failed (retrying every {PULL_RETRY:?}): {e}");
                }
                // `recv_async` on the local queue (always empty for a remote queue) ends when
                // the queue is closed: that is the stop signal.
                tokio::select! {
                    biased;
                    _ = core.queue.recv_async() => break,
                    _ = tokio::time::sleep(PULL_RETRY) => continue,
                }
            }
        };
        loop {
            let next = if closing {
                messages.next().await
            } else {
                tokio::select! {
                    biased;
                    _ = core.queue.recv_async() => {
                        closing = true;
                        continue;
                    }
                    m = messages.next() => m,
                }
            };
            match next {
                None => break,
                Some(Ok(m)) => {
                    // Only this task closes the hand-off queue, so the send cannot fail.
                    let _ = handoff.send_async(m).await;
                }
                Some(Err(e)) => {
                    tracing::debug!(queue = %core.name, "mq: pull request ended: {e}");
                    break;
                }
            }
        }
    }
    tracing::debug!(queue = %core.name, "mq: pull task stopped");
}

/// One worker thread (invariants 1, 3).
#[allow(clippy::too_many_arguments)]
fn run_worker<T, F, E>(
    core: &Arc<QueueCore<T>>,
    worker: usize,
    w: &WorkerStats,
    handler: &F,
    handoff: &Queue<Delivery>,
    aside: &Mutex<Vec<Delivery>>,
    running: &Running,
    answers: AnswerSender,
) where
    T: Send + 'static,
    F: Fn(&Msg<T>) -> Result<(), E>,
    E: Into<BoxError>,
{
    drop(lock(&core.threads));
    let mut rng = XorShift::new(worker as u64);
    tracing::debug!(queue = %core.name, worker, "mq: remote worker started");
    while let Ok(delivery) = handoff.recv() {
        if core.queue.is_closed() {
            lock(aside).push(delivery);
            continue;
        }
        let turn = catch_unwind(AssertUnwindSafe(|| {
            handle_one(
                core,
                worker,
                w,
                handler,
                &mut rng,
                &running[worker],
                &answers,
                delivery,
            )
        }));
        if turn.is_err() {
            core.lose(w, worker);
        }
    }
    // The hand-off queue is closed: the pull task has no request open (invariant 3).
    let back = std::mem::take(&mut *lock(aside));
    for delivery in back {
        answers.send(core.name, delivery, AckKind::Nak(None), "hand back");
    }
    // Waits until every worker's answers are sent and flushed (bounded by the request
    // timeout, so that a stop while the server is down returns: the unflushed answers are
    // redelivered, at least once).
    answers.finish();
    tracing::debug!(queue = %core.name, worker, "mq: remote worker stopped");
}

/// When the server stored the message, as an `Instant` of this process (approximate: the
/// server's clock is not ours).
fn published_instant(published_unix_nanos: i128) -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let age = u64::try_from((now - published_unix_nanos).max(0)).unwrap_or(u64::MAX);
    let now = Instant::now();
    now.checked_sub(Duration::from_nanos(age)).unwrap_or(now)
}

/// What each worker is running: the ack subject of its delivery while the handler runs
/// (invariant 2). One ticker task per queue sends an in-progress ack for every occupied slot
/// each `ack_wait / 3`, so a message costs two uncontended locks, not a timer of its own. The
/// ticker holds the slots weakly and ends when the last worker has dropped them.
type Running = Arc<[Mutex<Option<async_nats::Subject>>]>;

fn start_ticker<T: Send + 'static>(remote: &Remote<T>, running: &Running, ack_wait: Duration) {
    let slots = Arc::downgrade(running);
    let client = remote.conn.client.clone();
    let every = (ack_wait / 3).max(Duration::from_millis(10));
    remote.conn.handle.spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(slots) = slots.upgrade() else { break };
            let busy: Vec<_> = slots.iter().filter_map(|s| lock(s).clone()).collect();
            drop(slots);
            for reply in busy {
                let _ = client.publish(reply, Bytes::from_static(b"+WPI")).await;
            }
        }
    });
}

/// Marks a worker's slot busy with a delivery until dropped.
struct InProgress<'a>(&'a Mutex<Option<async_nats::Subject>>);

impl<'a> InProgress<'a> {
    fn new(slot: &'a Mutex<Option<async_nats::Subject>>, d: &Delivery) -> Self {
        *lock(slot) = d.message.reply.clone();
        Self(slot)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        *lock(self.0) = None;
    }
}

/// One delivery's turn.
#[allow(clippy::too_many_arguments)]
fn handle_one<T, F, E>(
    core: &Arc<QueueCore<T>>,
    worker: usize,
    w: &WorkerStats,
    handler: &F,
    rng: &mut XorShift,
    slot: &Mutex<Option<async_nats::Subject>>,
    answers: &AnswerSender,
    d: Delivery,
) where
    T: Send + 'static,
    F: Fn(&Msg<T>) -> Result<(), E>,
    E: Into<BoxError>,
{
    let remote = core.remote.as_ref().expect("a remote queue's worker");
    WorkerStats::bump(&w.popped);
    let (id, delivered, published) = match d.info() {
        Ok(i) => (
            i.stream_sequence,
            i.delivered,
            i.published.unix_timestamp_nanos(),
        ),
        Err(e) => {
            // Not a JetStream delivery (no ack subject): nothing to answer.
            tracing::error!(queue = %core.name, worker, "mq: a delivery without JetStream metadata was dropped: {e}");
            WorkerStats::bump(&w.dead_lettered);
            WorkerStats::bump(&w.finished);
            return;
        }
    };
    let attempt = u32::try_from(delivered.max(1)).unwrap_or(u32::MAX);
    let data = match (remote.decode)(&d.payload) {
        Ok(data) => data,
        Err(e) => {
            tracing::error!(
                queue = %core.name, worker, msg_id = id,
                "mq: a message that does not decode as `{}` was terminated: {e}",
                std::any::type_name::<T>()
            );
            answers.send(core.name, d, AckKind::Term, "term");
            WorkerStats::bump(&w.dead_lettered);
            WorkerStats::bump(&w.finished);
            return;
        }
    };
    let msg = Msg {
        id,
        data,
        attempt,
        queue: core.name,
        enqueued_at: published_instant(published),
        extras: None,
    };
    if attempt
        > core
            .policy()
            .max_attempts()
            .saturating_add(UNDECIDED_DELIVERIES)
    {
        // Delivered again and again without a decision: it kills its consumers.
        tracing::warn!(queue = %core.name, worker, msg_id = id, attempt, "mq: redelivered past its last attempt: dead-lettered unrun");
        core.dead_letter(msg, DeadLetterReason::Redelivered);
        answers.send(core.name, d, AckKind::Term, "term");
        WorkerStats::bump(&w.dead_lettered);
        WorkerStats::bump(&w.finished);
        return;
    }
    let progress = InProgress::new(slot, &d);
    let outcome = observe::attempt(core, w, &msg, || call_handler(handler, &msg));
    drop(progress);
    let max_attempts = core.policy().max_attempts();
    let (failure, after) = match decide(outcome, attempt, || max_attempts, core.policy(), rng) {
        Decision::Handled => {
            answers.send(core.name, d, AckKind::Ack, "ack");
            WorkerStats::bump(&w.ok);
            core.metrics.handled_ok();
            WorkerStats::bump(&w.finished);
            drop_quietly(msg, core.name, "a handled message");
            return;
        }
        Decision::Retry { failure, after } => (failure, Some(after)),
        Decision::DeadLetter { failure } => (failure, None),
    };
    count_failure(w, &core.metrics, &failure, after.is_none());
    tracing::warn!(
        queue = %core.name, worker, msg_id = id, attempt,
        "mq: handler failed: {}", failure.describe()
    );
    match after {
        Some(after) => {
            drop_failure(failure, core.name);
            answers.send(
                core.name,
                d,
                AckKind::Nak(Some(after)),
                "retry (NAK with delay)",
            );
            core.stats.requeued.fetch_add(1, Relaxed);
            WorkerStats::bump(&w.retried);
            core.metrics.retried();
            WorkerStats::bump(&w.finished);
            drop_quietly(msg, core.name, "a message to retry");
        }
        None => {
            core.dead_letter(msg, DeadLetterReason::from_failure(failure));
            answers.send(core.name, d, AckKind::Term, "term");
            WorkerStats::bump(&w.dead_lettered);
            core.metrics.dead_lettered();
            WorkerStats::bump(&w.finished);
        }
    }
}
