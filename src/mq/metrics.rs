//! Metrics of the message queue through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`).
//!
//! Every queue records into whatever recorder the application installed (Prometheus, StatsD,
//! ...; see `examples/metrics_prometheus.rs`), each metric labelled `queue` with the queue's
//! name:
//!
//! | name | kind | what |
//! |---|---|---|
//! | [`PUBLISHED`] `segmq_published_total` | counter | messages accepted by a publish |
//! | [`HANDLED_OK`] `segmq_handled_ok_total` | counter | messages whose handler returned `Ok` |
//! | [`FAILED`] `segmq_failed_total` | counter | handler calls that returned `Err` |
//! | [`PANICKED`] `segmq_panicked_total` | counter | handler calls that panicked |
//! | [`RETRIED`] `segmq_retried_total` | counter | retries scheduled |
//! | [`DEAD_LETTERED`] `segmq_dead_lettered_total` | counter | messages that went to the dead-letter handler after their last attempt |
//! | [`TIMED_OUT`] `segmq_timed_out_total` | counter | handler calls that ran past their timeout |
//! | [`DEPTH`] `segmq_depth` | gauge | messages in the queue |
//! | [`IN_FLIGHT`] `segmq_in_flight` | gauge | handler calls running now |
//! | [`QUEUE_WAIT`] `segmq_queue_wait_seconds` | histogram | publish to handler start, first attempts |
//! | [`HANDLER_DURATION`] `segmq_handler_duration_seconds` | histogram | how long each handler call ran |
//!
//! The counters are the ones of [`QueueStats`](crate::QueueStats) under the same names, so a
//! run's exported values and its `Mq::stats` agree once the queue is quiet (one exception:
//! messages a durable queue recovers from its log at registration count in
//! `QueueStats::published`, not in this process's `segmq_published_total`).
//!
//! ```
//! # // The module exists (private, empty) without the feature too: its example needs it.
//! # #[cfg(feature = "metrics")] {
//! use segmq::mq::metrics::PUBLISHED;
//! use segmq::{Mq, Msg};
//!
//! // A Prometheus recorder, here local to the registration (an application installs one
//! // globally: `PrometheusBuilder::new().install_recorder()`).
//! let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
//! let prometheus = recorder.handle();
//! let mq = Mq::new();
//! let p = metrics::with_local_recorder(&recorder, || {
//!     mq.register("emails", 1, |_: &Msg<String>| Ok::<_, std::io::Error>(()))
//! })
//! .unwrap();
//! p.publish("hello".into()).unwrap();
//! mq.start().unwrap();
//! mq.stop();
//! let text = prometheus.render();
//! assert!(text.contains(&format!("{PUBLISHED}{{queue=\"emails\"}} 1")), "{text}");
//! assert!(text.contains("segmq_handled_ok_total{queue=\"emails\"} 1"), "{text}");
//! # }
//! ```
//!
//! # Design and cost
//!
//! Each queue builds its metric handles once, when it is registered (`metrics::counter!` and
//! friends look the name and label up in the recorder), and keeps them: per message there is
//! no lookup and no label allocation, only the handles' updates (an atomic add for a
//! counter, for instance). So **install the recorder before registering the queues**: queues
//! registered before any recorder hold no-op handles.
//!
//! With the feature, every attempt reads the clock twice (start and end); without it the
//! type below is empty, its methods do nothing, and the crate neither links `metrics` nor
//! records anything.
//!
//! The depth gauge is set from the queue's length after each publish and each handler start
//! (read, set, read again until the two reads agree, at most a few times), so it is exact once
//! the queue is quiet and a recent snapshot otherwise; the in-flight gauge is raised and
//! lowered around each handler call. Remote queues (feature `nats`) keep their messages on the
//! server: their depth gauge stays 0.
//!
//! Timed-out calls are counted by the timeout machinery through `QueueMetrics::timed_out`; the
//! counter is registered (and exported as 0) with every queue.

use std::time::Duration;

#[cfg(feature = "metrics")]
use ::metrics::{Counter, Gauge, Histogram, Unit};

use crate::Queue;

/// Counter: messages accepted by a publish.
#[cfg(feature = "metrics")]
pub const PUBLISHED: &str = "segmq_published_total";
/// Counter: messages whose handler returned `Ok`.
#[cfg(feature = "metrics")]
pub const HANDLED_OK: &str = "segmq_handled_ok_total";
/// Counter: handler calls that returned `Err`.
#[cfg(feature = "metrics")]
pub const FAILED: &str = "segmq_failed_total";
/// Counter: handler calls that panicked.
#[cfg(feature = "metrics")]
pub const PANICKED: &str = "segmq_panicked_total";
/// Counter: retries scheduled (a failed or panicked call with attempts left).
#[cfg(feature = "metrics")]
pub const RETRIED: &str = "segmq_retried_total";
/// Counter: messages that exhausted their attempts and went to the dead-letter handler.
#[cfg(feature = "metrics")]
pub const DEAD_LETTERED: &str = "segmq_dead_lettered_total";
/// Counter: handler calls that ran past their timeout.
#[cfg(feature = "metrics")]
pub const TIMED_OUT: &str = "segmq_timed_out_total";
/// Gauge: messages in the queue.
#[cfg(feature = "metrics")]
pub const DEPTH: &str = "segmq_depth";
/// Gauge: handler calls running now.
#[cfg(feature = "metrics")]
pub const IN_FLIGHT: &str = "segmq_in_flight";
/// Histogram, seconds: from publish to the start of the first attempt.
#[cfg(feature = "metrics")]
pub const QUEUE_WAIT: &str = "segmq_queue_wait_seconds";
/// Histogram, seconds: how long each handler call ran.
#[cfg(feature = "metrics")]
pub const HANDLER_DURATION: &str = "segmq_handler_duration_seconds";
/// The label every metric carries: the queue's name.
#[cfg(feature = "metrics")]
pub const QUEUE_LABEL: &str = "queue";

/// How many times a depth update re-reads the queue's length before it settles for the last
/// value it set (see the module docs).
#[cfg(feature = "metrics")]
const DEPTH_READS: usize = 4;

/// One queue's metric handles, built once at registration.
#[cfg(feature = "metrics")]
pub(crate) struct QueueMetrics {
    published: Counter,
    handled_ok: Counter,
    failed: Counter,
    panicked: Counter,
    retried: Counter,
    dead_lettered: Counter,
    timed_out: Counter,
    depth: Gauge,
    in_flight: Gauge,
    queue_wait: Histogram,
    handler_duration: Histogram,
}

/// Without the `metrics` feature: nothing, and every method does nothing.
#[cfg(not(feature = "metrics"))]
pub(crate) struct QueueMetrics;

#[cfg(feature = "metrics")]
impl QueueMetrics {
    /// Whether attempts are measured for the metrics (every one of them).
    pub(crate) const ENABLED: bool = true;

    pub(crate) fn new(queue: &'static str) -> Self {
        describe();
        Self {
            published: ::metrics::counter!(PUBLISHED, QUEUE_LABEL => queue),
            handled_ok: ::metrics::counter!(HANDLED_OK, QUEUE_LABEL => queue),
            failed: ::metrics::counter!(FAILED, QUEUE_LABEL => queue),
            panicked: ::metrics::counter!(PANICKED, QUEUE_LABEL => queue),
            retried: ::metrics::counter!(RETRIED, QUEUE_LABEL => queue),
            dead_lettered: ::metrics::counter!(DEAD_LETTERED, QUEUE_LABEL => queue),
            timed_out: ::metrics::counter!(TIMED_OUT, QUEUE_LABEL => queue),
            depth: ::metrics::gauge!(DEPTH, QUEUE_LABEL => queue),
            in_flight: ::metrics::gauge!(IN_FLIGHT, QUEUE_LABEL => queue),
            queue_wait: ::metrics::histogram!(QUEUE_WAIT, QUEUE_LABEL => queue),
            handler_duration: ::metrics::histogram!(HANDLER_DURATION, QUEUE_LABEL => queue),
        }
    }

    /// A publish was accepted into `queue`.
    #[inline]
    pub(crate) fn published<Q>(&self, queue: &Queue<Q>) {
        self.published.increment(1);
        self.depth_now(queue);
    }

    /// Sets the depth gauge from `queue`'s length (see the module docs).
    pub(crate) fn depth_now<Q>(&self, queue: &Queue<Q>) {
        let mut n = queue.len();
        for _ in 0..DEPTH_READS {
            self.depth.set(n as f64);
            let again = queue.len();
            if again == n {
                return;
            }
            n = again;
        }
    }

    /// A handler call starts (its message was taken from `queue`).
    #[inline]
    pub(crate) fn attempt_started<Q>(&self, queue: &Queue<Q>) {
        self.in_flight.increment(1.0);
        self.depth_now(queue);
    }

    /// A handler call ended (or its task was cancelled).
    #[inline]
    pub(crate) fn attempt_ended(&self) {
        self.in_flight.decrement(1.0);
    }

    #[inline]
    pub(crate) fn queue_wait(&self, d: Duration) {
        self.queue_wait.record(d.as_secs_f64());
    }

    #[inline]
    pub(crate) fn handler_duration(&self, d: Duration) {
        self.handler_duration.record(d.as_secs_f64());
    }

    #[inline]
    pub(crate) fn handled_ok(&self) {
        self.handled_ok.increment(1);
    }

    #[inline]
    pub(crate) fn failed(&self) {
        self.failed.increment(1);
    }

    #[inline]
    pub(crate) fn panicked(&self) {
        self.panicked.increment(1);
    }

    #[inline]
    pub(crate) fn retried(&self) {
        self.retried.increment(1);
    }

    #[inline]
    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.increment(1);
    }

    /// A handler call ran past its timeout (for the timeout machinery to call).
    #[inline]
    #[allow(dead_code)] // called once per-message timeouts exist
    pub(crate) fn timed_out(&self) {
        self.timed_out.increment(1);
    }
}

/// Describes every metric to the recorder (units and help texts; idempotent).
#[cfg(feature = "metrics")]
fn describe() {
    use ::metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(PUBLISHED, Unit::Count, "Messages accepted by a publish.");
    describe_counter!(
        HANDLED_OK,
        Unit::Count,
        "Messages whose handler returned Ok."
    );
    describe_counter!(FAILED, Unit::Count, "Handler calls that returned Err.");
    describe_counter!(PANICKED, Unit::Count, "Handler calls that panicked.");
    describe_counter!(RETRIED, Unit::Count, "Retries scheduled.");
    describe_counter!(
        DEAD_LETTERED,
        Unit::Count,
        "Messages that exhausted their attempts (dead-lettered)."
    );
    describe_counter!(
        TIMED_OUT,
        Unit::Count,
        "Handler calls that ran past their timeout."
    );
    describe_gauge!(DEPTH, Unit::Count, "Messages in the queue.");
    describe_gauge!(IN_FLIGHT, Unit::Count, "Handler calls running now.");
    describe_histogram!(
        QUEUE_WAIT,
        Unit::Seconds,
        "Time from publish to the start of the first attempt."
    );
    describe_histogram!(
        HANDLER_DURATION,
        Unit::Seconds,
        "How long each handler call ran."
    );
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::unused_self)]
impl QueueMetrics {
    pub(crate) const ENABLED: bool = false;
    #[inline(always)]
    pub(crate) fn new(_queue: &'static str) -> Self {
        Self
    }
    #[inline(always)]
    pub(crate) fn published<Q>(&self, _queue: &Queue<Q>) {}
    #[inline(always)]
    pub(crate) fn depth_now<Q>(&self, _queue: &Queue<Q>) {}
    #[inline(always)]
    pub(crate) fn attempt_started<Q>(&self, _queue: &Queue<Q>) {}
    #[inline(always)]
    pub(crate) fn attempt_ended(&self) {}
    #[inline(always)]
    pub(crate) fn queue_wait(&self, _d: Duration) {}
    #[inline(always)]
    pub(crate) fn handler_duration(&self, _d: Duration) {}
    #[inline(always)]
    pub(crate) fn handled_ok(&self) {}
    #[inline(always)]
    pub(crate) fn failed(&self) {}
    #[inline(always)]
    pub(crate) fn panicked(&self) {}
    #[inline(always)]
    pub(crate) fn retried(&self) {}
    #[inline(always)]
    pub(crate) fn dead_lettered(&self) {}
    #[inline(always)]
    #[allow(dead_code)] // called once per-message timeouts exist
    pub(crate) fn timed_out(&self) {}
}
