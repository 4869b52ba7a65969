//! `Select` over several receivers (issue 18): exactly once, round robin, closed arms,
//! timeouts, wake-ups across threads.

use std::time::{Duration, Instant};

use segmq::{RecvError, Select, SelectTimeoutError};

/// With every arm ready, one wait takes exactly one message, from the arm it reports; the
/// others keep theirs.
#[test]
fn one_wait_takes_one_message_from_the_chosen_arm() {
    let queues: Vec<_> = (0..3).map(|_| segmq::unbounded::<u32>()).collect();
    for (i, (tx, _)) in queues.iter().enumerate() {
        tx.send(i as u32).unwrap();
    }
    let mut sel = Select::new();
    for (i, (_, rx)) in queues.iter().enumerate() {
        sel = sel.recv(rx, move |m| (i, m));
    }
    let (arm, msg) = sel.wait();
    assert_eq!(msg, Ok(arm as u32));
    let left: usize = queues.iter().map(|(_, rx)| rx.len()).sum();
    assert_eq!(left, 2);
    assert_eq!(queues[arm].1.len(), 0);
}

/// Rounds start at successive arms, so a busy first arm does not starve the second.
#[test]
fn round_robin_reaches_every_ready_arm() {
    let (atx, a) = segmq::unbounded();
    let (btx, b) = segmq::unbounded();
    atx.send_batch(0..10).unwrap();
    btx.send_batch(100..110).unwrap();
    let mut sel = Select::new()
        .recv(&a, |m| m.unwrap())
        .recv(&b, |m| m.unwrap());
    let got: Vec<u32> = (0..4).map(|_| sel.wait()).collect();
    assert_eq!(got, [0, 100, 1, 101]);
}

/// Messages sent from other threads while the select waits: every one is returned by exactly
/// one wait (none lost, none twice), and the closed arms end the loop.
#[test]
fn many_waits_receive_every_message_once() {
    const N: u32 = 2_000;
    let (atx, a) = segmq::bounded(4);
    let (btx, b) = segmq::unbounded();
    let pa = std::thread::spawn(move || (0..N).for_each(|i| atx.send(i).unwrap()));
    let pb = std::thread::spawn(move || (N..2 * N).for_each(|i| btx.send(i).unwrap()));
    let mut seen = vec![false; 2 * N as usize];
    let mut open = [true, true];
    while open.iter().any(|&o| o) {
        let mut sel = Select::new();
        if open[0] {
            sel = sel.recv(&a, |m| m.map_err(|RecvError| 0));
        }
        if open[1] {
            sel = sel.recv(&b, |m| m.map_err(|RecvError| 1));
        }
        match sel.wait() {
            Ok(i) => {
                assert!(!seen[i as usize], "{i} received twice");
                seen[i as usize] = true;
            }
            Err(arm) => open[arm] = false,
        }
    }
    pa.join().unwrap();
    pb.join().unwrap();
    assert!(seen.iter().all(|&s| s), "every message received");
}

/// A select blocked on empty queues is woken by a send on its second arm.
#[test]
fn a_blocked_select_is_woken_by_a_send() {
    let (_atx, a) = segmq::unbounded::<u8>();
    let (btx, b) = segmq::unbounded::<u8>();
    let (started_tx, started) = segmq::bounded::<()>(1);
    let selector = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        Select::new()
            .recv(&a, |m| ('a', m))
            .recv(&b, |m| ('b', m))
            .wait()
    });
    started.recv().unwrap();
    btx.send(7).unwrap();
    assert_eq!(selector.join().unwrap(), ('b', Ok(7)));
}

/// A closed and drained arm is ready with `Err(RecvError)`; its messages come first.
#[test]
fn a_closed_arm_reports_closed_after_its_messages() {
    let (tx, rx) = segmq::unbounded();
    let (_keep, idle) = segmq::unbounded::<u8>();
    tx.send(1).unwrap();
    drop(tx);
    let mut sel = Select::new().recv(&idle, |_| None).recv(&rx, Some);
    assert_eq!(sel.wait(), Some(Ok(1)));
    assert_eq!(sel.wait(), Some(Err(RecvError)));
}

/// A timeout takes nothing; the waiter counts it joined are left (a later plain `recv` and a
/// send still meet).
#[test]
fn timeout_takes_nothing_and_leaves_the_queues_clean() {
    let (tx, rx) = segmq::unbounded::<u8>();
    let mut sel = Select::new().recv(&rx, |m| m);
    let deadline = Instant::now() + Duration::from_millis(5);
    assert_eq!(sel.wait_deadline(deadline), Err(SelectTimeoutError));
    assert_eq!(sel.try_select(), None);
    drop(sel);
    tx.send(3).unwrap();
    assert_eq!(rx.recv(), Ok(3));
    assert_eq!(
        SelectTimeoutError.to_string(),
        "timed out waiting on a select: no arm was ready"
    );
}

#[test]
#[should_panic(expected = "no arm would wait forever")]
fn waiting_on_no_arm_panics() {
    Select::<()>::new().wait();
}
