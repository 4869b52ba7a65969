//! Registration runs its slow part (a durable queue's recovery) without the registry lock
//! (review MQ-4), and stays consistent with whatever happens meanwhile: a second registration
//! of the name, `start`, `stop`. A gate on the registering thread (`registry::hooks`) holds the
//! registration inside its recovery while the test looks at the `Mq` from another thread.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::registry::hooks::BEFORE_RECOVERY;
use super::{Mq, MqError, Msg, Publisher, QueueOptions};
use crate::SyncPolicy;

fn durable(dir: &std::path::Path) -> QueueOptions<u64> {
    QueueOptions::new(1).durable(dir, SyncPolicy::Always)
}

/// Registers durable queue `name` on another thread, which stops at the gate just before its
/// recovery; returns once it is there, with the key that lets it go on and its result.
fn register_held(
    mq: &Arc<Mq>,
    name: &'static str,
    dir: &std::path::Path,
) -> (
    mpsc::Sender<()>,
    thread::JoinHandle<Result<Publisher<u64>, MqError>>,
) {
    let (at_gate, arrived) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let mq = mq.clone();
    let dir = dir.to_owned();
    let t = thread::spawn(move || {
        BEFORE_RECOVERY.with(|hook| {
            *hook.borrow_mut() = Some(Box::new(move || {
                at_gate.send(()).unwrap();
                released.recv().unwrap();
            }));
        });
        mq.register_with(name, durable(&dir), |_: &Msg<u64>| Ok::<_, MqError>(()))
    });
    arrived.recv().unwrap();
    (release, t)
}

#[test]
fn recovery_runs_without_the_registry_lock_and_the_name_has_one_winner() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Arc::new(Mq::new());
    mq.register("plain", 1, |_: &Msg<u8>| Ok::<_, MqError>(()))
        .unwrap();
    let (release, t) = register_held(&mq, "slow", tmp.path());

    // Inside the recovery: the registry is free.
    assert!(
        mq.registry.try_lock().is_ok(),
        "the registry lock is held during recovery"
    );
    assert_eq!(mq.queue_names(), ["plain"]);
    assert!(format!("{mq:?}").contains("plain"));
    // One winner: the second registration of the name fails at once.
    let again = mq.register("slow", 1, |_: &Msg<u64>| Ok::<_, MqError>(()));
    assert!(
        matches!(&again, Err(MqError::DuplicateQueue(n)) if n == "slow"),
        "{:?}",
        again.map(|_| ())
    );
    // `start` does not wait either; the queue registered after it starts its own workers.
    mq.start().unwrap();

    release.send(()).unwrap();
    let p = t.join().unwrap().unwrap();
    assert_eq!(mq.queue_names(), ["plain", "slow"]);
    for n in 0..10 {
        p.publish(n).unwrap();
    }
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(!report.timed_out);
    assert_eq!(mq.stats("slow").unwrap().handled_ok, 10);
}

#[test]
fn a_stop_during_recovery_refuses_the_registration_and_keeps_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    // First life: three messages accepted, never handled.
    let mq = Mq::new();
    let p = mq
        .register_with(
            "q",
            durable(tmp.path()),
            |_: &Msg<u64>| Ok::<_, MqError>(()),
        )
        .unwrap();
    for n in 0..3 {
        p.publish(n).unwrap();
    }
    mq.stop_timeout(Duration::ZERO);
    drop((mq, p));

    // Second life: stopped while the queue's recovery is under way.
    let mq = Arc::new(Mq::new());
    let (release, t) = register_held(&mq, "q", tmp.path());
    assert!(
        mq.registry.try_lock().is_ok(),
        "the registry lock is held during recovery"
    );
    let report = mq.stop_timeout(Duration::from_secs(60));
    assert!(report.queues.is_empty() && !report.timed_out);
    release.send(()).unwrap();
    let r = t.join().unwrap();
    assert!(matches!(r, Err(MqError::Stopped)), "{:?}", r.map(|_| ()));
    assert!(mq.queue_names().is_empty());

    // The refused registration released the log and lost nothing.
    let mq = Mq::new();
    let p = mq
        .register_with(
            "q",
            durable(tmp.path()),
            |_: &Msg<u64>| Ok::<_, MqError>(()),
        )
        .unwrap();
    assert_eq!(p.recovery().unwrap().redelivered, 3);
    mq.start().unwrap();
    mq.stop();
    assert_eq!(mq.stats("q").unwrap().handled_ok, 3);
}
