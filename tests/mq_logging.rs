//! The MQ with a `tracing` subscriber that formats every event (so the handler error's
//! `Display` runs on the worker): a `Display` that panics must not kill the worker. Its own
//! test binary, because the subscriber is process-global.

use std::fmt;
use std::time::Duration;

use segmq::{Mq, Msg};

/// A subscriber that formats every field of every event, and keeps nothing.
struct FormatAll;

struct Format;

impl tracing::field::Visit for Format {
    fn record_debug(&mut self, _field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let _ = format!("{value:?}");
    }
}

impl tracing::Subscriber for FormatAll {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        event.record(&mut Format);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// An error whose `Display` panics.
#[derive(Debug)]
struct BadDisplay;

impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("BadDisplay::fmt")
    }
}

impl std::error::Error for BadDisplay {}

#[test]
fn an_error_whose_display_panics_does_not_kill_the_worker() {
    tracing::subscriber::set_global_default(FormatAll).unwrap();
    let mq = Mq::new();
    let p = mq
        .register("bad-display", 1, |m: &Msg<u32>| {
            if m.data == 0 {
                return Err(BadDisplay);
            }
            Ok(())
        })
        .unwrap();
    for i in 0..3 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    let report = mq.stop_timeout(Duration::from_secs(60));
    let s = mq.stats("bad-display").unwrap();
    // Before: formatting the error for the log panicked on the worker, which died; the two
    // messages after it were dropped with the queue and the report said nothing.
    assert_eq!(
        (s.failed, s.dead_lettered, s.handled_ok, s.left),
        (1, 1, 2, 0)
    );
    assert!(!report.timed_out && report.is_accounted(), "{report:?}");
}
