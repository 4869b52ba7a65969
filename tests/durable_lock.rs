//! One owner per log directory: a second `Mq`, a second queue of one `Mq`, and a second
//! process are refused with an error naming the lock file and the holder; stopping the owner
//! frees the directory, and nothing the owner logged is lost on the way.
#![cfg(feature = "durable")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use segmq::{DurableError, Mq, MqError, Msg, Publisher, QueueOptions, SyncPolicy};

fn opts(dir: &Path) -> QueueOptions<u64> {
    QueueOptions::new(1).durable(dir, SyncPolicy::Always)
}

fn register(mq: &Mq, name: &str, dir: &Path) -> Result<Publisher<u64>, MqError> {
    mq.register_with(name, opts(dir), |_: &Msg<u64>| Ok::<_, MqError>(()))
}

/// Asserts that `r` is the lock refusal for `dir`, held by process `pid`.
fn assert_locked(r: Result<Publisher<u64>, MqError>, dir: &Path, pid: u32) {
    match r {
        Err(MqError::Storage(e @ DurableError::Locked { .. })) => {
            let DurableError::Locked { path, holder } = &e else {
                unreachable!()
            };
            assert_eq!(*path, dir.join("LOCK"));
            assert_eq!(holder.as_deref(), Some(format!("pid {pid}").as_str()));
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("pid {pid}")), "{text}");
        }
        other => panic!("expected a lock refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_second_mq_on_the_directory_is_refused_until_the_first_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Mq::new();
    let p = register(&first, "q", tmp.path()).unwrap();
    assert_eq!(p.publish(7).unwrap(), 0);
    let second = Mq::new();
    assert_locked(
        register(&second, "q", tmp.path()),
        tmp.path(),
        std::process::id(),
    );
    // The first one goes on unharmed (its segment was not touched).
    assert_eq!(p.publish(8).unwrap(), 1);
    // Stopping it (never started: both stay unhandled) frees the directory, even while its
    // publisher still exists; the publisher is refused from then on.
    first.stop_timeout(Duration::ZERO);
    assert!(matches!(p.publish(9), Err(segmq::PublishError::Closed(9))));
    let p2 = register(&second, "q", tmp.path()).unwrap();
    assert_eq!(p2.recovery().unwrap().redelivered, 2);
    assert_eq!(p2.publish(10).unwrap(), 2);
}

#[test]
fn a_second_queue_of_one_mq_on_the_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let a = register(&mq, "a", tmp.path()).unwrap();
    assert_locked(
        register(&mq, "b", tmp.path()),
        tmp.path(),
        std::process::id(),
    );
    assert!(
        mq.stats("b").is_none(),
        "the refused queue is not registered"
    );
    assert!(format!("{}", register(&mq, "c", tmp.path()).err().unwrap()).contains("this process"));
    assert_eq!(a.publish(1).unwrap(), 0);
}

const CHILD_DIR: &str = "SEGMQ_LOCK_CHILD_DIR";

/// The child process of `a_second_process_is_refused_with_the_holders_pid` (run by it, not
/// alone): registers a durable queue on `$SEGMQ_LOCK_CHILD_DIR`, says `locked`, publishes one
/// message, and holds the directory until its standard input closes.
#[test]
#[ignore = "the child process of the lock test"]
fn lock_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let mq = Mq::new();
    let p = register(&mq, "q", Path::new(&dir)).unwrap();
    p.publish(41).unwrap();
    // The harness printed "test lock_child ... " without a newline: end that line first.
    let mut out = std::io::stdout().lock();
    out.write_all(b"\nlocked\n").unwrap();
    out.flush().unwrap();
    drop(out);
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
    mq.stop_timeout(Duration::ZERO);
}

#[test]
fn a_second_process_is_refused_with_the_holders_pid() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lock_child", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CHILD_DIR, tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l == "locked" => break,
            Some(Ok(_)) => continue,
            other => panic!("the child ended before it locked: {other:?}"),
        }
    }
    let mq = Mq::new();
    assert_locked(register(&mq, "q", tmp.path()), tmp.path(), child.id());
    // The child lets go: the directory is ours, with the child's message.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let p = register(&mq, "q", tmp.path()).unwrap();
    assert_eq!(p.recovery().unwrap().redelivered, 1);
    assert_eq!(p.publish(42).unwrap(), 1);
}
