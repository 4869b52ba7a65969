//! The retry policy's attempt count holds across a restart of a durable queue: failed attempts
//! are logged, and a recovered message goes on from the next attempt (then dead-letters at the
//! maximum) instead of starting again at 1.
#![cfg(feature = "durable")]

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use segmq::{Mq, Msg, QueueOptions, RetryPolicy, SyncPolicy};

type Attempts = Arc<Mutex<Vec<(u64, u32)>>>;

#[test]
fn failed_attempts_are_counted_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = |dead: Attempts| {
        QueueOptions::new(1)
            .durable(tmp.path(), SyncPolicy::Always)
            .retry(RetryPolicy::fixed(3, Duration::ZERO))
            .dead_letter(move |m: Msg<u64>| dead.lock().unwrap().push((m.id, m.attempt())))
    };

    // First run: attempt 1 fails, attempt 2 is in its handler when the queue stops (deadline
    // zero), then fails: the message is left with two failed attempts.
    let (in_attempt_2, wait_2) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let seen: Attempts = Arc::default();
    let dead: Attempts = Arc::default();
    let mq = Mq::new();
    let sink = seen.clone();
    let p = mq
        .register_with("r", opts(dead.clone()), move |m: &Msg<u64>| {
            sink.lock().unwrap().push((m.id, m.attempt()));
            if m.attempt() == 2 {
                in_attempt_2.send(()).unwrap();
                released.lock().unwrap().recv().unwrap();
            }
            Err::<(), _>(std::io::Error::other("always fails"))
        })
        .unwrap();
    assert_eq!(p.publish(5).unwrap(), 0);
    mq.start().unwrap();
    wait_2.recv().unwrap();
    let report = mq.stop_timeout(Duration::ZERO);
    assert!(report.timed_out);
    release.send(()).unwrap();
    mq.stop(); // joins the worker
    assert_eq!(p.drain_left().len(), 1);
    assert_eq!(*seen.lock().unwrap(), [(0, 1), (0, 2)]);
    assert!(dead.lock().unwrap().is_empty());
    drop((p, mq));

    // Restart: the message comes back at attempt 3, its last, and is dead-lettered after it.
    let seen: Attempts = Arc::default();
    let sink = seen.clone();
    let mq = Mq::new();
    let p = mq
        .register_with("r", opts(dead.clone()), move |m: &Msg<u64>| {
            sink.lock().unwrap().push((m.id, m.attempt()));
            Err::<(), _>(std::io::Error::other("always fails"))
        })
        .unwrap();
    assert_eq!(p.recovery().unwrap().redelivered, 1);
    mq.start().unwrap();
    mq.stop();
    assert_eq!(*seen.lock().unwrap(), [(0, 3)]);
    assert_eq!(*dead.lock().unwrap(), [(0, 3)]);
    drop((p, mq));

    // Dead-lettered is done: nothing comes back.
    let mq = Mq::new();
    let p = mq
        .register_with("r", opts(dead), |_: &Msg<u64>| Ok::<_, std::io::Error>(()))
        .unwrap();
    assert_eq!(p.recovery().unwrap().redelivered, 0);
}
