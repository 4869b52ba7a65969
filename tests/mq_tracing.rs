//! The MQ's `tracing` spans, seen by a real subscriber (tracing-subscriber's registry with a
//! capturing layer): every handler call runs in a `mq_message` span with `queue`, `id` and
//! `attempt`, a retry gets a new span, and each span follows from the publisher's span.
//!
//! Its own test binary: worker threads only see the global default subscriber, which a process
//! sets once. Tests run in parallel here, so each one uses its own queue names and reads only
//! what its queues produced.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use segmq::{Mq, Msg, QueueOptions, RetryPolicy};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span as created: a unique number (the registry reuses `Id`s), its name and fields.
#[derive(Debug, Clone)]
struct SpanRec {
    uid: u64,
    name: &'static str,
    fields: HashMap<String, String>,
    follows: Vec<u64>,
}

/// An event: its message and the unique numbers of the spans it was in, innermost first.
#[derive(Debug, Clone)]
struct EventRec {
    message: String,
    scope: Vec<u64>,
}

#[derive(Default)]
struct Captured {
    spans: HashMap<u64, SpanRec>,
    events: Vec<EventRec>,
}

fn captured() -> &'static Mutex<Captured> {
    static CAPTURED: OnceLock<Mutex<Captured>> = OnceLock::new();
    CAPTURED.get_or_init(Default::default)
}

/// Installs the capturing subscriber (once per process).
fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(CaptureLayer);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

struct Uid(u64);

struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct CaptureLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CaptureLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let uid = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut fields = Fields(HashMap::new());
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(Uid(uid));
        captured().lock().unwrap().spans.insert(
            uid,
            SpanRec {
                uid,
                name: attrs.metadata().name(),
                fields: fields.0,
                follows: Vec::new(),
            },
        );
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        let uid = |id: &Id| ctx.span(id).unwrap().extensions().get::<Uid>().unwrap().0;
        let (span, follows) = (uid(span), uid(follows));
        let mut c = captured().lock().unwrap();
        c.spans.get_mut(&span).unwrap().follows.push(follows);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields(HashMap::new());
        event.record(&mut fields);
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|s| s.extensions().get::<Uid>().unwrap().0)
                    .collect()
            })
            .unwrap_or_default();
        let message = fields.0.remove("message").unwrap_or_default();
        captured()
            .lock()
            .unwrap()
            .events
            .push(EventRec { message, scope });
    }
}

/// The events whose message starts with `prefix`, each with its innermost `mq_message` span.
fn handler_events(prefix: &str) -> Vec<(EventRec, Option<SpanRec>)> {
    let c = captured().lock().unwrap();
    c.events
        .iter()
        .filter(|e| e.message.starts_with(prefix))
        .map(|e| {
            let span = e
                .scope
                .iter()
                .map(|uid| &c.spans[uid])
                .find(|s| s.name == "mq_message")
                .cloned();
            (e.clone(), span)
        })
        .collect()
}

/// The captured `request` span of the test with this `route`.
fn request_span_uid(route: &str) -> u64 {
    let c = captured().lock().unwrap();
    c.spans
        .values()
        .find(|s| s.name == "request" && field(s, "route") == route)
        .expect("the request span was captured")
        .uid
}

fn field<'a>(s: &'a SpanRec, name: &str) -> &'a str {
    s.fields.get(name).map(String::as_str).unwrap_or("<none>")
}

/// Every handler log line is inside its message's span: queue, id and attempt are the
/// message's. Before: handler events had no span at all (`scope` empty).
#[test]
fn handler_logs_carry_queue_id_and_attempt() {
    install();
    let mq = Mq::new();
    let p = mq
        .register("traced-logs", 2, |m: &Msg<u32>| {
            tracing::info!("traced-logs: handling {}", m.data);
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    let mut ids = HashMap::new();
    for n in 0..20u32 {
        ids.insert(n, p.publish(n).unwrap());
    }
    mq.start().unwrap();
    mq.stop();
    let events = handler_events("traced-logs: handling ");
    assert_eq!(events.len(), 20, "one log line per message");
    let mut seen = Vec::new();
    for (e, span) in events {
        let span = span.unwrap_or_else(|| panic!("{e:?} is in no mq_message span"));
        let n: u32 = e.message["traced-logs: handling ".len()..].parse().unwrap();
        assert_eq!(field(&span, "queue"), "traced-logs", "{span:?}");
        assert_eq!(field(&span, "id"), ids[&n].to_string(), "{span:?}");
        assert_eq!(field(&span, "attempt"), "1", "{span:?}");
        assert!(
            span.follows.is_empty(),
            "published outside any span: {span:?}"
        );
        seen.push(n);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).collect::<Vec<_>>(), "each message once");
}

/// A retry runs in a new span with attempt 2 (same queue and ID), and both attempts' spans
/// follow from the span the message was published in.
#[test]
fn a_retry_gets_a_new_span_and_both_follow_the_publisher() {
    install();
    let mq = Mq::new();
    let p = mq
        .register_with(
            "traced-retry",
            QueueOptions::new(1).retry(RetryPolicy::fixed(2, Duration::from_millis(1))),
            |m: &Msg<u32>| {
                tracing::warn!("traced-retry: attempt {}", m.attempt());
                if m.attempt() == 1 {
                    return Err("first attempt fails");
                }
                Ok(())
            },
        )
        .unwrap();
    mq.start().unwrap();
    let request = tracing::info_span!("request", route = "/retry");
    let id = request.in_scope(|| p.publish(7).unwrap());
    let request_uid = request_span_uid("/retry");
    drop(request);
    mq.stop();
    assert_eq!(mq.stats("traced-retry").unwrap().retried, 1);
    let mut events = handler_events("traced-retry: attempt ");
    events.sort_by(|a, b| a.0.message.cmp(&b.0.message));
    assert_eq!(events.len(), 2, "{events:?}");
    let spans: Vec<SpanRec> = events
        .iter()
        .map(|(e, s)| s.clone().unwrap_or_else(|| panic!("{e:?} has no span")))
        .collect();
    assert_ne!(spans[0].uid, spans[1].uid, "each attempt has its own span");
    for (attempt, span) in (1..).zip(&spans) {
        assert_eq!(field(span, "attempt"), attempt.to_string(), "{span:?}");
        assert_eq!(field(span, "id"), id.to_string(), "{span:?}");
        assert_eq!(field(span, "queue"), "traced-retry", "{span:?}");
        assert_eq!(span.follows, [request_uid], "{span:?}");
    }
    // The spans are roots, not children of the publisher's span: the events' scopes hold the
    // message span only.
    for (e, _) in &events {
        assert_eq!(e.scope.len(), 1, "{e:?}");
    }
}

/// An async handler's future is instrumented: its log lines carry the span after an await too,
/// and the span follows from the publisher's.
#[cfg(feature = "tokio")]
#[test]
fn async_handlers_log_inside_their_span_across_awaits() {
    install();
    let mq = Mq::new();
    let p = mq
        .register_async("traced-async", QueueOptions::new(3), |m: &Msg<u32>| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                tracing::info!("traced-async: after await {}", m.data);
                Ok::<_, std::io::Error>(())
            })
        })
        .unwrap();
    mq.start().unwrap();
    let publisher = tracing::info_span!("batch-job", job = "async");
    publisher.in_scope(|| {
        for n in 0..10 {
            p.publish(n).unwrap();
        }
    });
    let publisher_uid = {
        let c = captured().lock().unwrap();
        c.spans
            .values()
            .find(|s| s.name == "batch-job" && field(s, "job") == "async")
            .unwrap()
            .uid
    };
    drop(publisher);
    mq.stop();
    let events = handler_events("traced-async: after await ");
    assert_eq!(events.len(), 10);
    for (e, span) in events {
        let span = span.unwrap_or_else(|| panic!("{e:?} lost its span across the await"));
        assert_eq!(field(&span, "queue"), "traced-async");
        assert_eq!(field(&span, "attempt"), "1");
        assert_eq!(span.follows, [publisher_uid], "{span:?}");
    }
}

/// A message published with per-message options (`publish_with`) keeps its publisher's span:
/// the options and the span share the message's extras, and neither replaces the other.
#[test]
fn publish_with_keeps_the_publishers_span() {
    install();
    let mq = Mq::new();
    let p = mq
        .register("traced-options", 1, |m: &Msg<u32>| {
            tracing::warn!("traced-options: handling {}", m.data);
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    let request = tracing::info_span!("request", route = "/options");
    let options = segmq::PublishOptions::new().max_attempts(3);
    request.in_scope(|| p.publish_with(5, options).unwrap());
    let request_uid = request_span_uid("/options");
    drop(request);
    mq.start().unwrap();
    mq.stop();
    let events = handler_events("traced-options: handling ");
    assert_eq!(events.len(), 1, "{events:?}");
    let span = events[0].1.clone().expect("in a message span");
    assert_eq!(span.follows, [request_uid], "{span:?}");
}
