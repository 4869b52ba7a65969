//! The handler context (`Ctx`, `CancelToken`), handler timeouts, per-message options and
//! `SkipRetry`: each test counts every message exactly once, and waits through channels or the
//! token itself, never through sleeps.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segmq::{
    BoxError, Ctx, DeadLetterReason, Mq, Msg, PublishOptions, QueueOptions, RetryPolicy, SkipRetry,
    StopReport,
};

/// The generous "eventually" of these tests.
const EVENTUALLY: Duration = Duration::from_secs(30);

type Dead = Arc<Mutex<Vec<(u64, u32, String)>>>;

/// Options with a dead-letter handler recording (id, attempt, reason).
fn recording<T: Send + 'static>(opts: QueueOptions<T>) -> (QueueOptions<T>, Dead) {
    let dead: Dead = Arc::default();
    let sink = dead.clone();
    let opts = opts.dead_letter_with_error(move |m: Msg<T>, why: DeadLetterReason| {
        sink.lock()
            .unwrap()
            .push((m.id, m.attempt(), why.to_string()));
    });
    (opts, dead)
}

fn assert_accounted(report: &StopReport) {
    assert!(report.is_accounted(), "{report:?}");
    assert_eq!(report.lost(), 0, "{report:?}");
}

/// A thread handler blocked on its token (no timeout of its own) is woken by the deadline of
/// `stop_timeout`, not earlier; the message ends handled.
#[test]
fn the_token_fires_at_the_stop_deadline_in_a_thread_handler() {
    let mq = Mq::new();
    let (started_tx, started) = mpsc::channel();
    let (woke_tx, woke) = mpsc::channel();
    let p = mq
        .register_ctx(
            "stop-thread",
            QueueOptions::new(1),
            move |ctx: Ctx<'_, u8>| {
                assert_eq!(ctx.deadline(), None, "no timeout, no stop yet");
                started_tx.send(()).unwrap();
                ctx.token().wait();
                woke_tx.send((Instant::now(), ctx.deadline())).unwrap();
                Ok::<_, BoxError>(())
            },
        )
        .unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    started.recv_timeout(EVENTUALLY).unwrap();
    let asked = Instant::now();
    // The handler ends at the deadline: the report may or may not call that timed out.
    mq.stop_timeout(Duration::from_millis(50));
    let (at, deadline) = woke.recv_timeout(EVENTUALLY).unwrap();
    let deadline = deadline.expect("the stop's deadline is the token's");
    assert!(deadline >= asked + Duration::from_millis(50));
    assert!(at >= deadline, "woken before the deadline");
    mq.stop();
    let report = mq.stop_timeout(Duration::ZERO);
    assert_accounted(&report);
    assert_eq!(mq.stats("stop-thread").unwrap().handled_ok, 1);
}

/// The same with an async handler awaiting `cancelled()`.
#[cfg(feature = "tokio")]
#[test]
fn the_token_fires_at_the_stop_deadline_in_an_async_handler() {
    let mq = Mq::new();
    let (started_tx, started) = mpsc::channel();
    let (woke_tx, woke) = mpsc::channel();
    let p = mq
        .register_async_ctx(
            "stop-async",
            QueueOptions::new(1),
            move |ctx: Ctx<'_, u8>| {
                let (started_tx, woke_tx) = (started_tx.clone(), woke_tx.clone());
                Box::pin(async move {
                    started_tx.send(()).unwrap();
                    ctx.token().cancelled().await;
                    woke_tx.send(Instant::now()).unwrap();
                    Ok::<_, BoxError>(())
                })
            },
        )
        .unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    started.recv_timeout(EVENTUALLY).unwrap();
    let asked = Instant::now();
    mq.stop_timeout(Duration::from_millis(50));
    let at = woke.recv_timeout(EVENTUALLY).unwrap();
    assert!(
        at >= asked + Duration::from_millis(50),
        "woken before the deadline"
    );
    mq.stop();
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
    assert_eq!(mq.stats("stop-async").unwrap().handled_ok, 1);
}

/// Per-queue timeout, async: attempt 1 never completes and is dropped at its deadline (its
/// token cancelled, which a task it spawned sees); attempt 2 succeeds.
#[cfg(feature = "tokio")]
#[test]
fn an_async_handler_is_dropped_at_its_deadline_and_retried() {
    let mq = Mq::new();
    let (attempts_tx, attempts) = mpsc::channel();
    let (spawned_tx, spawned) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let opts = QueueOptions::new(1)
        .timeout(Duration::from_millis(20))
        .retry(RetryPolicy::fixed(3, Duration::ZERO));
    let p = mq
        .register_async_ctx("async-timeout", opts, move |ctx: Ctx<'_, u8>| {
            let (attempts_tx, spawned_tx, dropped_tx) =
                (attempts_tx.clone(), spawned_tx.clone(), dropped_tx.clone());
            Box::pin(async move {
                attempts_tx.send(ctx.attempt()).unwrap();
                if ctx.attempt() == 1 {
                    let token = ctx.token().clone();
                    tokio::spawn(async move {
                        token.cancelled().await;
                        spawned_tx.send(()).unwrap();
                    });
                    // Reports its own drop: the future is dropped, not left running.
                    struct OnDrop(mpsc::Sender<()>);
                    impl Drop for OnDrop {
                        fn drop(&mut self) {
                            self.0.send(()).unwrap();
                        }
                    }
                    let _guard = OnDrop(dropped_tx);
                    std::future::pending::<()>().await;
                }
                Ok::<_, BoxError>(())
            })
        })
        .unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    spawned.recv_timeout(EVENTUALLY).unwrap();
    dropped.recv_timeout(EVENTUALLY).unwrap();
    mq.stop();
    assert_eq!(attempts.try_iter().collect::<Vec<_>>(), [1, 2]);
    let s = mq.stats("async-timeout").unwrap();
    assert_eq!(
        (
            s.timed_out,
            s.failed,
            s.retried,
            s.handled_ok,
            s.dead_lettered
        ),
        (1, 0, 1, 1, 0)
    );
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// Per-queue timeout, thread: attempt 1 waits for its token (fired by the deadline) and then
/// returns `Ok`: late, so it counts as timed out and is retried; attempt 2 is on time.
#[test]
fn a_thread_handler_that_returns_late_is_timed_out_and_retried() {
    let mq = Mq::new();
    let (attempts_tx, attempts) = mpsc::channel();
    let opts = QueueOptions::new(1)
        .timeout(Duration::from_millis(20))
        .retry(RetryPolicy::fixed(3, Duration::ZERO));
    let p = mq
        .register_ctx("thread-timeout", opts, move |ctx: Ctx<'_, u8>| {
            let deadline = ctx.deadline().expect("the queue's timeout");
            attempts_tx
                .send((ctx.attempt(), ctx.is_cancelled()))
                .unwrap();
            if ctx.attempt() == 1 {
                ctx.token().wait();
                assert!(Instant::now() >= deadline, "the token fired early");
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    mq.stop();
    assert_eq!(
        attempts.try_iter().collect::<Vec<_>>(),
        [(1, false), (2, false)],
        "attempt 2 got a fresh token"
    );
    let s = mq.stats("thread-timeout").unwrap();
    assert_eq!(
        (s.timed_out, s.failed, s.retried, s.handled_ok),
        (1, 0, 1, 1)
    );
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// A plain `|m: &Msg<T>|` handler with a per-message zero timeout: every attempt returns
/// late, so the message is dead-lettered after the message's own 2 attempts (the queue allows
/// 5), with "timed out" as the reason. The other message, without options, is handled.
#[test]
fn a_per_message_timeout_and_attempt_limit_apply_to_a_plain_handler() {
    let mq = Mq::new();
    let (opts, dead) = recording(QueueOptions::new(1).retry(RetryPolicy::fixed(5, Duration::ZERO)));
    let p = mq
        .register_with("plain-late", opts, |_: &Msg<u8>| Ok::<_, BoxError>(()))
        .unwrap();
    let late = p
        .publish_with(
            1,
            PublishOptions::new()
                .timeout(Duration::ZERO)
                .max_attempts(2),
        )
        .unwrap();
    p.publish(2).unwrap();
    mq.start().unwrap();
    mq.stop();
    assert_eq!(
        *dead.lock().unwrap(),
        [(late, 2, "timed out after 0ns".to_string())]
    );
    let s = mq.stats("plain-late").unwrap();
    assert_eq!(
        (s.timed_out, s.retried, s.dead_lettered, s.handled_ok),
        (2, 1, 1, 1)
    );
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// A message's timeout replaces the queue's: the queue's hour does not apply to the message
/// that asked for zero; the others keep the hour (and are on time).
#[test]
fn a_message_timeout_overrides_the_queue_timeout() {
    let mq = Mq::new();
    let (opts, dead) = recording(QueueOptions::new(2).timeout(Duration::from_secs(3600)));
    let p = mq
        .register_ctx("override", opts, |ctx: Ctx<'_, u32>| {
            let left = ctx.token().remaining().expect("a deadline");
            if ctx.msg().data == 0 {
                assert_eq!(left, Duration::ZERO);
            } else {
                assert!(left > Duration::from_secs(3000), "{left:?}");
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    let zero = p
        .publish_with(0, PublishOptions::new().timeout(Duration::ZERO))
        .unwrap();
    for i in 1..=10 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop(); // no stop deadline: the tokens' deadlines are the timeouts
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
    assert_eq!(
        *dead.lock().unwrap(),
        [(zero, 1, "timed out after 0ns".into())]
    );
    let s = mq.stats("override").unwrap();
    assert_eq!((s.published, s.handled_ok, s.timed_out), (11, 10, 1));
}

/// `SkipRetry` goes to the dead-letter handler on attempt 1 with the error's text, even with
/// attempts left; other failures are retried as usual.
#[test]
fn skip_retry_dead_letters_at_once_with_the_error() {
    let mq = Mq::new();
    let (opts, dead) = recording(QueueOptions::new(1).retry(RetryPolicy::fixed(4, Duration::ZERO)));
    let p = mq
        .register_with("skip", opts, |m: &Msg<&str>| -> Result<(), BoxError> {
            match m.data {
                "rejected" => Err(SkipRetry::new("the API rejects this word").into()),
                "flaky" if m.attempt() < 3 => Err("try again".into()),
                _ => Ok(()),
            }
        })
        .unwrap();
    let rejected = p.publish("rejected").unwrap();
    p.publish("flaky").unwrap();
    p.publish("fine").unwrap();
    mq.start().unwrap();
    mq.stop();
    assert_eq!(
        *dead.lock().unwrap(),
        [(
            rejected,
            1,
            "the API rejects this word (not retried)".to_string()
        )]
    );
    let s = mq.stats("skip").unwrap();
    assert_eq!(
        (
            s.failed,
            s.skipped_retry,
            s.retried,
            s.dead_lettered,
            s.handled_ok
        ),
        (3, 1, 2, 1, 2)
    );
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// The dead-letter reason carries the error by value (downcast to the handler's type), a
/// panic's message, and is recognisable as a skipped retry when it is one.
#[test]
fn the_dead_letter_reason_carries_the_error_and_the_panic() {
    #[derive(Debug)]
    struct ApiError(u16);
    impl std::fmt::Display for ApiError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "HTTP {}", self.0)
        }
    }
    impl std::error::Error for ApiError {}

    let mq = Mq::new();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let opts = QueueOptions::new(1).dead_letter_with_error(move |m: Msg<u8>, why| {
        let code = why
            .error()
            .and_then(|e| e.downcast_ref::<ApiError>())
            .map(|e| e.0);
        let panicked = matches!(&why, DeadLetterReason::Panicked(p) if p == "boom");
        sink.lock()
            .unwrap()
            .push((m.data, code, panicked, why.is_skip_retry()));
    });
    let p = mq
        .register_with("reasons", opts, |m: &Msg<u8>| -> Result<(), BoxError> {
            match m.data {
                0 => Err(Box::new(ApiError(503))),
                1 => panic!("boom"),
                _ => Err(SkipRetry::new(ApiError(400)).into()),
            }
        })
        .unwrap();
    for i in 0..3 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop();
    assert_eq!(
        *reasons.lock().unwrap(),
        [
            (0, Some(503), false, false),
            (1, None, true, false),
            (2, None, false, true)
        ]
    );
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// A message's attempt limit replaces the policy's in both directions (more and fewer).
#[test]
fn per_message_max_attempts_override_the_policy() {
    let mq = Mq::new();
    let (opts, dead) = recording(QueueOptions::new(1).retry(RetryPolicy::fixed(3, Duration::ZERO)));
    let p = mq
        .register_with("attempts", opts, |_: &Msg<u8>| Err::<(), _>("always"))
        .unwrap();
    let more = p
        .publish_with(0, PublishOptions::new().max_attempts(5))
        .unwrap();
    let fewer = p
        .publish_with(1, PublishOptions::new().max_attempts(1))
        .unwrap();
    let policy = p.publish(2).unwrap();
    mq.start().unwrap();
    mq.stop();
    let mut dead = dead.lock().unwrap().clone();
    dead.sort();
    let by_id: Vec<(u64, u32)> = dead.iter().map(|(id, a, _)| (*id, *a)).collect();
    assert_eq!(by_id, [(more, 5), (fewer, 1), (policy, 3)]);
    let s = mq.stats("attempts").unwrap();
    assert_eq!((s.failed, s.retried, s.dead_lettered), (9, 6, 3));
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// A token a handler cancels (or keeps a clone of) is not the next message's: the next
/// attempt starts uncancelled.
#[test]
fn each_attempt_gets_a_token_of_its_own() {
    let mq = Mq::new();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let keep = kept.clone();
    let (seen_tx, seen) = mpsc::channel();
    let p = mq
        .register_ctx("fresh", QueueOptions::new(1), move |ctx: Ctx<'_, u32>| {
            seen_tx.send(ctx.is_cancelled()).unwrap();
            if ctx.msg().data % 2 == 0 {
                ctx.token().cancel();
            } else {
                keep.lock().unwrap().push(ctx.token().clone());
            }
            Ok::<_, BoxError>(())
        })
        .unwrap();
    for i in 0..6 {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop();
    assert_eq!(seen.try_iter().collect::<Vec<_>>(), [false; 6]);
    assert!(kept.lock().unwrap().iter().all(|t| !t.is_cancelled()));
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// Retries keep the message's options: a message limited to 2 attempts with a zero timeout is
/// tried twice, both timed out, whatever the handler returns.
#[cfg(feature = "tokio")]
#[test]
fn options_survive_retries_of_an_async_handler() {
    let mq = Mq::new();
    let (opts, dead) = recording(QueueOptions::new(1).retry(RetryPolicy::fixed(9, Duration::ZERO)));
    let p = mq
        .register_async("async-opts", opts, |_: &Msg<u8>| {
            Box::pin(async { std::future::pending::<Result<(), BoxError>>().await })
        })
        .unwrap();
    let id = p
        .publish_with(
            1,
            PublishOptions::new()
                .timeout(Duration::from_millis(1))
                .max_attempts(2),
        )
        .unwrap();
    mq.start().unwrap();
    mq.stop();
    assert_eq!(
        *dead.lock().unwrap(),
        [(id, 2, "timed out after 1ms".to_string())]
    );
    let s = mq.stats("async-opts").unwrap();
    assert_eq!((s.timed_out, s.retried, s.dead_lettered), (2, 1, 1));
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// Messages with options that are still queued at a stop come back as leftovers with their
/// options; nothing is lost.
#[test]
fn leftovers_with_options_are_accounted() {
    let mq = Mq::new();
    let p = mq
        .register_with("left", QueueOptions::new(1), |_: &Msg<u8>| {
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish_with(1, PublishOptions::new().max_attempts(3))
        .unwrap();
    p.publish(2).unwrap();
    let report = mq.stop_timeout(Duration::from_millis(1)); // never started
    assert_accounted(&report);
    assert_eq!(report.left(), 2);
    assert_eq!(p.drain_left().len(), 2);
}

/// Options cannot be logged by a durable queue: refused with the data back and the queue
/// named; empty options are a plain publish.
#[cfg(feature = "durable")]
#[test]
fn publish_with_options_is_refused_on_a_durable_queue() {
    let dir = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let opts = QueueOptions::new(1).durable(dir.path(), segmq::SyncPolicy::OsBuffered);
    let p = mq
        .register_with("durable-opts", opts, |_: &Msg<u32>| Ok::<_, BoxError>(()))
        .unwrap();
    let err = p
        .publish_with(7, PublishOptions::new().max_attempts(2))
        .unwrap_err();
    assert!(
        matches!(err, segmq::PublishError::Unsupported { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("durable-opts"), "{err}");
    assert_eq!(err.into_inner(), 7);
    p.publish_with(8, PublishOptions::new()).unwrap();
    mq.start().unwrap();
    mq.stop();
    assert_eq!(mq.stats("durable-opts").unwrap().handled_ok, 1);
}

/// A clone of the token awaited outside any tokio runtime (no timer to wake it at the
/// deadline) is woken by the stop when its deadline passes, even if the handler itself ended
/// at that deadline.
#[test]
fn the_stop_wakes_a_clone_awaited_outside_tokio() {
    let mq = Mq::new();
    let (started_tx, started) = mpsc::channel();
    let (woke_tx, woke) = mpsc::channel();
    let p = mq
        .register_ctx("clone", QueueOptions::new(1), move |ctx: Ctx<'_, u8>| {
            let token = ctx.token().clone();
            let woke_tx = woke_tx.clone();
            std::thread::spawn(move || {
                futures_executor::block_on(token.cancelled());
                woke_tx.send(()).unwrap();
            });
            started_tx.send(()).unwrap();
            ctx.token().wait();
            Ok::<_, BoxError>(())
        })
        .unwrap();
    p.publish(1).unwrap();
    mq.start().unwrap();
    started.recv_timeout(EVENTUALLY).unwrap();
    mq.stop_timeout(Duration::from_millis(20));
    woke.recv_timeout(EVENTUALLY)
        .expect("the clone was never woken");
    mq.stop();
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}

/// The public types are `Send` and `Sync` where a user needs them (tokens and contexts cross
/// threads and `.await`s; reasons and errors are stored).
#[test]
fn the_context_types_are_send_and_sync() {
    fn send_sync<X: Send + Sync>() {}
    fn send<X: Send>() {}
    send_sync::<segmq::CancelToken>();
    send_sync::<Ctx<'static, String>>();
    send::<segmq::Cancelled<'static>>();
    send_sync::<DeadLetterReason>();
    send_sync::<SkipRetry>();
    send_sync::<PublishOptions>();
    let t = segmq::CancelToken::new();
    assert!(format!("{t:?}").contains("cancelled: false"));
    assert!(format!("{:?}", PublishOptions::new().max_attempts(0)).contains("Some(1)"));
}

/// A retry waiting in the timer when the stop begins is put back with its due time (kept in
/// the message's extras, not in every envelope) and does not run before it; a message with
/// options keeps them through that too.
#[test]
fn a_retry_flushed_at_stop_keeps_its_due_time_and_options() {
    let backoff = Duration::from_millis(100);
    let mq = Mq::new();
    let (tx, rx) = mpsc::channel();
    let opts = QueueOptions::new(1).retry(RetryPolicy::fixed(2, backoff));
    let (opts, dead) = recording(opts);
    let p = mq
        .register_with("flushed", opts, move |m: &Msg<u8>| {
            tx.send((m.data, m.attempt(), Instant::now())).unwrap();
            Err::<(), _>("not yet")
        })
        .unwrap();
    mq.start().unwrap();
    p.publish(0).unwrap();
    p.publish_with(1, PublishOptions::new().max_attempts(3))
        .unwrap();
    let mut first = Vec::new();
    for _ in 0..2 {
        first.push(rx.recv_timeout(EVENTUALLY).unwrap());
    }
    mq.stop(); // both retries are in the timer: flushed with their due times
    let later: Vec<_> = rx.try_iter().collect();
    for (data, attempt, at) in &later {
        if *attempt == 2 {
            let (_, _, failed_at) = first.iter().find(|f| f.0 == *data).unwrap();
            assert!(*at >= *failed_at + backoff, "ran before its due time");
        }
    }
    let mut attempts: Vec<(u8, u32)> = first.iter().chain(&later).map(|f| (f.0, f.1)).collect();
    attempts.sort();
    assert_eq!(attempts, [(0, 1), (0, 2), (1, 1), (1, 2), (1, 3)]);
    assert_eq!(dead.lock().unwrap().len(), 2);
    assert_accounted(&mq.stop_timeout(Duration::ZERO));
}
