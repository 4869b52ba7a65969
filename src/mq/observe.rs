//! Observability of one handler attempt: its `tracing` span, its timings, its metrics.
//!
//! # Design
//!
//! * **Span per attempt.** Each handler call runs inside a span named `mq_message` with the
//!   fields `queue`, `id` and `attempt`, at level `DEBUG` and target [`TARGET`]
//!   (`segmq::message`), so whatever the handler logs carries the message. A thread handler
//!   runs with the span entered; an async handler's future is `.instrument`ed with it (entered
//!   at every poll). The span is a root (`parent: None`): a message is its own unit of work, not
//!   a child of whatever the worker was doing.
//! * **Why `DEBUG`.** A span per message is a per-message cost for every subscriber that
//!   enables it (the `fmt` subscriber allocates and formats its fields). `DEBUG` follows
//!   tower-http's and apalis's per-request spans: a service logging at `INFO` pays nothing, an
//!   application that wants message context in its logs enables it with one filter directive
//!   (`segmq::message=debug`), and tracing's `max_level_*`/`release_max_level_info` features
//!   compile it out entirely.
//! * **The publisher's span.** A fresh envelope stores the publisher's current span
//!   ([`publisher_extras`]) only if a subscriber on the publishing thread would enable message
//!   spans and the publisher is inside a span; otherwise the envelope's `extras` stays `None`
//!   and the publish neither allocates nor calls into tracing beyond one relaxed load (the level
//!   filter). Each attempt's span then `follows_from` that span. The stored clone keeps the
//!   publisher's span open (not closed in the subscriber) until the message's last attempt ends,
//!   as tower's `Buffer` does with its callers' spans.
//! * **Timings.** One clock read when the attempt starts (queue wait, for a first attempt, and
//!   the handler's start) and one when it ends (handler duration), only for the messages
//!   `QueueStats` samples (one in
//!   [`QueueStats::LATENCY_SAMPLE`](super::QueueStats::LATENCY_SAMPLE)) or, with the `metrics`
//!   feature, for every attempt. The unsampled path reads no clock.
//!
//! Thread workers (`worker.rs`), async tasks (`async_pool.rs`) and remote workers
//! (`remote/worker.rs`) call [`attempt`] / [`attempt_async`] around the handler call and
//! nothing else.

use std::time::Instant;

use tracing::{Level, Span};

use super::core::QueueCore;
use super::metrics::QueueMetrics;
use super::msg::Extras;
use super::stats::WorkerStats;
use super::Msg;

/// The target of the per-message spans (`segmq::message=debug` in an `EnvFilter` enables them).
pub(crate) const TARGET: &str = "segmq::message";

/// The extras of a fresh envelope: the publisher's current span if message spans are enabled
/// and there is one, else `None` (no allocation).
#[inline]
pub(crate) fn publisher_extras() -> Option<Box<Extras>> {
    if debug_may_be_enabled() {
        capture_publisher_span()
    } else {
        None
    }
}

/// The first half of tracing's own `enabled!` check: the compile-time and the global level
/// filter (one relaxed load, `OFF` when no subscriber is installed). The second half (the
/// callsite's interest, which needs the dispatcher) is done out of line, so that the inline
/// part keeps the publish and the worker loop small.
#[inline(always)]
fn debug_may_be_enabled() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    Level::DEBUG <= STATIC_MAX_LEVEL && Level::DEBUG <= LevelFilter::current()
}

#[cold]
#[inline(never)]
fn capture_publisher_span() -> Option<Box<Extras>> {
    if !tracing::span_enabled!(target: TARGET, Level::DEBUG) {
        return None;
    }
    let span = Span::current();
    if span.is_disabled() {
        return None;
    }
    // The other extras (fields of other features) keep their defaults.
    #[allow(clippy::needless_update)]
    Some(Box::new(Extras {
        publisher_span: Some(span),
        ..Extras::default()
    }))
}

/// The span of one attempt at `msg` (disabled if no subscriber wants it), following from the
/// publisher's span if the message carries one. Called only when [`debug_may_be_enabled`]:
/// otherwise the attempt has no span at all, since even a disabled span costs its enter, exit
/// and drop (about 40 instructions per message, callgrind, `examples/mq_dispatch_count.rs`).
#[cold]
#[inline(never)]
fn message_span<T>(msg: &Msg<T>) -> Span {
    let span = tracing::debug_span!(
        target: TARGET,
        parent: None,
        "mq_message",
        queue = msg.queue,
        id = msg.id,
        attempt = msg.attempt
    );
    if !span.is_disabled() {
        if let Some(from) = msg.extras.as_ref().and_then(|e| e.publisher_span.as_ref()) {
            span.follows_from(from);
        }
    }
    span
}

/// One attempt being timed: created just before the handler call, finished just after it.
/// Leaves the in-flight gauge when dropped, also when an async task is cancelled mid-call.
struct Timing<'a> {
    metrics: &'a QueueMetrics,
    w: &'a WorkerStats,
    /// When the handler started, if this attempt is measured.
    start: Option<Instant>,
    /// Whether `QueueStats` samples this message (the metrics measure every attempt).
    sampled: bool,
}

impl<'a> Timing<'a> {
    #[inline]
    fn start<T: Send + 'static>(core: &'a QueueCore<T>, w: &'a WorkerStats, msg: &Msg<T>) -> Self {
        let metrics = &core.metrics;
        let sampled = w.samples_latency();
        let start = (sampled || QueueMetrics::ENABLED).then(Instant::now);
        if let (Some(now), 1) = (start, msg.attempt) {
            let wait = now.saturating_duration_since(msg.enqueued_at);
            if sampled {
                w.record_latency(wait);
            }
            metrics.queue_wait(wait);
        }
        metrics.attempt_started(&core.queue);
        Self {
            metrics,
            w,
            start,
            sampled,
        }
    }

    #[inline]
    fn finish(self) {
        if let Some(start) = self.start {
            let took = start.elapsed();
            if self.sampled {
                self.w.record_handler(took);
            }
            self.metrics.handler_duration(took);
        }
    }
}

impl Drop for Timing<'_> {
    #[inline]
    fn drop(&mut self) {
        self.metrics.attempt_ended();
    }
}

/// Runs one attempt of a blocking handler (`call`) inside the message's span, timed.
#[inline]
pub(crate) fn attempt<T: Send + 'static, R>(
    core: &QueueCore<T>,
    w: &WorkerStats,
    msg: &Msg<T>,
    call: impl FnOnce() -> R,
) -> R {
    let timing = Timing::start(core, w, msg);
    let outcome = if debug_may_be_enabled() {
        message_span(msg).in_scope(call)
    } else {
        call()
    };
    timing.finish();
    outcome
}

/// Runs one attempt of an async handler (`call`, its future) instrumented with the message's
/// span, timed (the whole future, every await included).
#[cfg(feature = "tokio")]
pub(crate) async fn attempt_async<T: Send + 'static, F: std::future::Future>(
    core: &QueueCore<T>,
    w: &WorkerStats,
    msg: &Msg<T>,
    call: F,
) -> F::Output {
    use tracing::Instrument;
    let timing = Timing::start(core, w, msg);
    let outcome = if debug_may_be_enabled() {
        call.instrument(message_span(msg)).await
    } else {
        call.await
    };
    timing.finish();
    outcome
}
