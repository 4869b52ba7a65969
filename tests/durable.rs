//! Durable queues (feature `durable`): redelivery after a crash with original IDs, exactly-once
//! without a crash, dead letters and leftovers, disk freed once consumers catch up, errors that
//! carry the path, and the crash test: a child process killed with SIGKILL at random moments.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use segmq::{
    DurableError, DurableOptions, Mq, MqError, Msg, PublishError, QueueOptions, RetryPolicy,
    SyncPolicy,
};

type Seen = Arc<Mutex<Vec<(u64, u64)>>>;

/// Registers a durable `u64` queue whose handler records `(id, data)`.
fn recording(mq: &Mq, opts: QueueOptions<u64>) -> (segmq::Publisher<u64>, Seen) {
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let p = mq
        .register_with("q", opts, move |m: &Msg<u64>| {
            sink.lock().unwrap().push((m.id, m.data));
            Ok::<_, MqError>(())
        })
        .unwrap();
    (p, seen)
}

/// As far as the log can tell, a crash of a never-started `Mq`: its messages stay unhandled
/// (no "done" record; they go to the leftover store), and the stop closes the log, releasing
/// the directory's lock so that this process can register the directory again. (Forgetting
/// the `Mq` would keep the lock for the rest of the process.)
fn crash(mq: Mq) {
    mq.stop_timeout(Duration::ZERO);
}

fn sorted(seen: &Seen) -> Vec<(u64, u64)> {
    let mut v = seen.lock().unwrap().clone();
    v.sort_unstable();
    v
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

const POLICIES: [SyncPolicy; 3] = [
    SyncPolicy::Always,
    SyncPolicy::Interval(Duration::from_millis(5)),
    SyncPolicy::OsBuffered,
];

#[test]
fn unhandled_messages_come_back_in_id_order_with_their_ids_and_ids_continue() {
    for policy in POLICIES {
        let tmp = tempfile::tempdir().unwrap();
        let mq = Mq::new();
        let (p, _) = recording(&mq, QueueOptions::new(1).durable(tmp.path(), policy));
        for n in 0..10u64 {
            assert_eq!(p.publish(100 + n).unwrap(), n);
        }
        crash(mq); // nothing was handled

        let mq = Mq::new();
        let (p, seen) = recording(&mq, QueueOptions::new(1).durable(tmp.path(), policy));
        let r = p.recovery().unwrap();
        assert_eq!((r.redelivered, r.next_id), (10, 10), "{policy:?}");
        assert_eq!(p.publish(110).unwrap(), 10);
        mq.start().unwrap();
        mq.stop();
        let got = seen.lock().unwrap().clone();
        // One worker: delivery order is queue order, recovered ones first, in ID order.
        assert_eq!(got, (0..11).map(|n| (n, 100 + n)).collect::<Vec<_>>());
    }
}

#[test]
fn without_a_crash_every_message_is_handled_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = || QueueOptions::new(4).durable(tmp.path(), SyncPolicy::Always);
    let mq = Mq::new();
    let (p, seen) = recording(&mq, opts());
    mq.start().unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let p = p.clone();
            thread::spawn(move || {
                (0..250u64)
                    .map(|i| p.publish(t * 1000 + i).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>(), "unique, dense IDs");
    mq.stop();
    assert_eq!(sorted(&seen).len(), 1000);
    drop(mq);

    let mq = Mq::new();
    let (p, seen) = recording(&mq, opts());
    assert_eq!(p.recovery().unwrap().redelivered, 0);
    assert_eq!(p.recovery().unwrap().next_id, 1000);
    mq.start().unwrap();
    mq.stop();
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn dead_letters_are_done_but_leftovers_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = || {
        QueueOptions::new(1)
            .durable(tmp.path(), SyncPolicy::OsBuffered)
            .retry(RetryPolicy::fixed(2, Duration::from_millis(1)))
    };
    let mq = Mq::new();
    let p = mq
        .register_with("q", opts(), |m: &Msg<u64>| {
            if m.data == 0 {
                Err("always fails")
            } else {
                Ok(())
            }
        })
        .unwrap();
    p.publish(0).unwrap(); // dead-lettered after 2 attempts
    mq.start().unwrap();
    mq.stop();
    assert_eq!(mq.stats("q").unwrap().dead_lettered, 1);
    drop(mq);

    // Never started: stop_timeout leaves both messages; they have no "done" record.
    let mq = Mq::new();
    let (p, _) = recording(&mq, opts());
    assert_eq!(p.recovery().unwrap().redelivered, 0, "dead letter was done");
    p.publish(7).unwrap();
    p.publish(8).unwrap();
    assert_eq!(mq.stop_timeout(Duration::from_millis(1)).left(), 2);
    assert_eq!(p.drain_left().len(), 2);
    assert!(p.publish(9).unwrap_err().is_closed());
    drop(mq);

    let mq = Mq::new();
    let (p, seen) = recording(&mq, opts());
    assert_eq!(p.recovery().unwrap().redelivered, 2, "leftovers come back");
    mq.start().unwrap();
    mq.stop();
    assert_eq!(sorted(&seen), [(1, 7), (2, 8)]);
}

#[test]
fn segments_are_deleted_once_consumers_catch_up() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = DurableOptions::new(tmp.path(), SyncPolicy::OsBuffered).segment_bytes(4096);
    let mq = Mq::new();
    let (p, seen) = recording(&mq, QueueOptions::new(2).durable_with(opts.clone()));
    for n in 0..5000u64 {
        p.publish(n).unwrap();
    }
    let segs = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count()
    };
    let before = (segs(tmp.path()), dir_bytes(tmp.path()));
    assert!(before.0 > 20 && before.1 > 20 * 4000, "{before:?}");
    mq.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // `handled_ok` counts a message after its "done" record was appended (the handler's own
    // record of it comes before).
    while mq.stats("q").unwrap().handled_ok < 5000 {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    // While running: the segment being written and perhaps the one before it remain.
    let running = (segs(tmp.path()), dir_bytes(tmp.path()));
    assert!(
        running.0 <= 4 && running.1 <= 4 * 8192,
        "{running:?} vs {before:?}"
    );
    mq.stop();
    assert_eq!(seen.lock().unwrap().len(), 5000);
    drop(mq);
    // A restart finds nothing to do and keeps only its fresh segment.
    let mq = Mq::new();
    let (p, _) = recording(&mq, QueueOptions::new(1).durable_with(opts));
    assert_eq!(p.recovery().unwrap().redelivered, 0);
    assert_eq!(segs(tmp.path()), 1);
    assert!(dir_bytes(tmp.path()) < 100);
}

#[test]
fn disk_errors_carry_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let mq = Mq::new();
    let r = mq.register_with(
        "q",
        QueueOptions::new(1).durable(file.join("wal"), SyncPolicy::Always),
        |_: &Msg<u64>| Ok::<_, MqError>(()),
    );
    match r {
        Err(MqError::Storage(e @ DurableError::Io { .. })) => {
            assert!(e.path().starts_with(&file), "{e}");
            assert!(e.to_string().contains("a-file"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_damaged_log_fails_registration_with_file_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let (p, _) = recording(
        &mq,
        QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
    );
    for n in 0..3 {
        p.publish(n).unwrap();
    }
    crash(mq);
    let seg = tmp.path().join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[24 + 12] ^= 0xff; // inside the first record
    std::fs::write(&seg, &bytes).unwrap();
    let mq = Mq::new();
    let r = mq.register_with(
        "q",
        QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
        |_: &Msg<u64>| Ok::<_, MqError>(()),
    );
    assert!(
        matches!(&r, Err(MqError::Storage(DurableError::Corrupt { path, offset: 24, .. })) if *path == seg),
        "{r:?}"
    );
    // Opting in to skipping: the two intact messages come back.
    let (p, seen) = recording(
        &mq,
        QueueOptions::new(1)
            .durable_with(DurableOptions::new(tmp.path(), SyncPolicy::Always).skip_corrupt(true)),
    );
    assert_eq!(p.recovery().unwrap().skipped.len(), 1);
    mq.start().unwrap();
    mq.stop();
    assert_eq!(sorted(&seen), [(1, 1), (2, 2)]);
}

/// A payload whose encoding fails.
struct Unencodable;

impl serde::Serialize for Unencodable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("refused"))
    }
}

impl<'de> serde::Deserialize<'de> for Unencodable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <()>::deserialize(d).map(|()| Unencodable)
    }
}

#[test]
fn a_payload_the_codec_refuses_comes_back_with_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let p = mq
        .register_with(
            "q",
            QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
            |_: &Msg<Unencodable>| Ok::<_, MqError>(()),
        )
        .unwrap();
    match p.publish(Unencodable) {
        Err(PublishError::Storage(_, e @ DurableError::Codec { .. })) => {
            assert_eq!(e.path(), tmp.path());
            assert!(e.to_string().contains("cannot encode"), "{e}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn durable_bounded_queues_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let r = mq.register_with(
        "q",
        QueueOptions::new(1)
            .capacity(8)
            .durable(tmp.path(), SyncPolicy::Always),
        |_: &Msg<u64>| Ok::<_, MqError>(()),
    );
    let Err(e @ MqError::Unsupported { .. }) = r else {
        panic!("expected a refusal")
    };
    // The error says why.
    let text = e.to_string();
    assert!(
        text.contains("durable") && text.contains("recovery"),
        "{text}"
    );
}

#[test]
fn a_recovered_message_of_another_type_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let p = mq
        .register_with(
            "q",
            QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
            |_: &Msg<String>| Ok::<_, MqError>(()),
        )
        .unwrap();
    p.publish("a string, not a number".into()).unwrap();
    crash(mq);
    let mq = Mq::new();
    let r = mq.register_with(
        "q",
        QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
        |_: &Msg<(u8, u8)>| Ok::<_, MqError>(()),
    );
    assert!(
        matches!(&r, Err(MqError::Storage(DurableError::Codec { offset: Some(24), path, .. })) if path.starts_with(tmp.path())),
        "{r:?}"
    );
}

#[cfg(feature = "tokio")]
#[test]
fn async_queues_can_be_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let mq = Mq::new();
    let p = mq
        .register_async(
            "a",
            QueueOptions::new(4).durable(tmp.path(), SyncPolicy::Always),
            |_: &Msg<u64>| Box::pin(async { Ok::<_, MqError>(()) }),
        )
        .unwrap();
    mq.start().unwrap();
    for n in 0..100 {
        assert_eq!(p.publish(n).unwrap(), n);
    }
    mq.stop();
    assert_eq!(mq.stats("a").unwrap().handled_ok, 100);
    drop(mq);
    let mq = Mq::new();
    let (p, _) = recording(
        &mq,
        QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
    );
    assert_eq!(p.recovery().unwrap().redelivered, 0);
}

// ---- The crash test ----------------------------------------------------------------------

const CHILD_DIR: &str = "SEGMQ_CRASH_DIR";
const CHILD_ROUND: &str = "SEGMQ_CRASH_ROUND";

/// The child process of the crash tests (run by them, not alone): recovers the queue in
/// `$SEGMQ_CRASH_DIR`, handles (1 ms each, 2 workers) and publishes (2 threads) until killed,
/// printing `try <data>` before each publish, `ok <id> <data>` after it returned `Ok`, and
/// `handled <id> <data>` when a handler finished. The sync policy and whether to stop cleanly
/// vary with the round.
#[test]
#[ignore = "the child process of the crash tests"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let round: u64 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let policy = POLICIES[(round % 3) as usize];
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes()).unwrap();
        out.flush().unwrap();
    };
    // The harness printed "test crash_child ... " without a newline: end that line first.
    say("\nchild started\n".to_string());
    let mq = Mq::new();
    let opts = DurableOptions::new(&dir, policy).segment_bytes(4096);
    let p = mq
        .register_with(
            "crash",
            QueueOptions::new(2).durable_with(opts),
            move |m: &Msg<u64>| {
                thread::sleep(Duration::from_millis(1));
                say(format!("handled {} {}\n", m.id, m.data));
                Ok::<_, MqError>(())
            },
        )
        .unwrap();
    mq.start().unwrap();
    let publishers: Vec<_> = (0..2u64)
        .map(|t| {
            let p = p.clone();
            thread::spawn(move || {
                for i in 0..100_000u64 {
                    let data = round * 1_000_000_000 + t * 100_000_000 + i;
                    say(format!("try {data}\n"));
                    let id = p.publish(data).unwrap();
                    say(format!("ok {id} {data}\n"));
                    thread::sleep(Duration::from_micros(300));
                }
            })
        })
        .collect();
    // Killed long before this (a safety net if the parent dies).
    thread::sleep(Duration::from_secs(30));
    drop(publishers);
    std::process::exit(1);
}

#[derive(Default)]
struct Seen2 {
    tried: HashSet<u64>,
    ok: BTreeMap<u64, u64>,
    handled: BTreeMap<u64, BTreeSet<u64>>,
}

impl Seen2 {
    fn handle(&mut self, id: u64, data: u64) {
        self.handled.entry(id).or_default().insert(data);
    }

    fn line(&mut self, line: &str) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| f[i].parse::<u64>().unwrap();
        match f.first() {
            Some(&"try") if f.len() == 2 => {
                self.tried.insert(num(1));
            }
            Some(&"ok") if f.len() == 3 => {
                assert!(
                    self.ok.insert(num(1), num(2)).is_none(),
                    "ID {} twice",
                    f[1]
                );
            }
            Some(&"handled") if f.len() == 3 => self.handle(num(1), num(2)),
            _ => {} // the test harness's own lines
        }
    }
}

/// Runs `rounds` children on one directory, each killed with SIGKILL after a random time,
/// then recovers in this process and checks: every ID whose publish returned `Ok` was handled
/// (before a kill or after a restart) with its data; every handled ID was published (its data
/// was tried, and an `ok` ID was handled with its own data only).
fn crash_rounds(rounds: u64) {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seen = Seen2::default();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(CHILD_DIR, tmp.path())
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = thread::spawn(move || {
            let mut lines = Vec::new();
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') {
                    lines.push(std::mem::take(&mut line));
                }
                line.clear();
            }
            lines
        });
        thread::sleep(Duration::from_millis(10 + next() % 150));
        child.kill().unwrap(); // SIGKILL on unix
        child.wait().unwrap();
        for line in reader.join().unwrap() {
            seen.line(&line);
        }
    }
    // The final, clean run.
    let mq = Mq::new();
    let (p, handled) = recording(
        &mq,
        QueueOptions::new(2)
            .durable_with(DurableOptions::new(tmp.path(), SyncPolicy::Always).segment_bytes(4096)),
    );
    let report = p.recovery().unwrap().clone();
    mq.start().unwrap();
    mq.stop();
    for &(id, data) in handled.lock().unwrap().iter() {
        seen.handle(id, data);
    }
    println!(
        "crash test: {rounds} rounds, {} tried, {} ok, {} handled IDs, final recovery {report:?}",
        seen.tried.len(),
        seen.ok.len(),
        seen.handled.len()
    );
    assert!(
        seen.ok.len() as u64 > rounds,
        "the children published too little"
    );
    for (id, data) in &seen.ok {
        let h = seen.handled.get(id);
        assert!(
            h.is_some_and(|d| d.contains(data)),
            "ID {id} (data {data}) was accepted but never handled: {h:?}"
        );
    }
    for (id, datas) in &seen.handled {
        for data in datas {
            assert!(
                seen.tried.contains(data),
                "ID {id} handled with data {data} never published"
            );
        }
        if let Some(data) = seen.ok.get(id) {
            assert_eq!(datas.len(), 1, "ID {id} ({data}) handled with {datas:?}");
        }
    }
    // Nothing left afterwards.
    drop(mq);
    let mq = Mq::new();
    let (p, _) = recording(
        &mq,
        QueueOptions::new(1).durable(tmp.path(), SyncPolicy::Always),
    );
    assert_eq!(p.recovery().unwrap().redelivered, 0);
}

#[cfg(unix)]
#[test]
fn crash_test_kill_9_loses_no_accepted_message() {
    crash_rounds(50);
}

#[cfg(unix)]
#[test]
#[ignore = "long: 500 kill -9 rounds"]
fn crash_test_long() {
    crash_rounds(500);
}
