//! `segmq::unbounded()` / `segmq::bounded(n)`: `Sender`/`Receiver` handles and disconnection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use futures_util::StreamExt;
use segmq::{Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError};

/// A message that counts its drops.
struct Counted(u64, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

fn both_flavours<T>() -> [(Sender<T>, Receiver<T>); 2] {
    [segmq::unbounded(), segmq::bounded(4)]
}

#[test]
fn last_sender_closes_receivers_drain_first() {
    for (tx, rx) in both_flavours() {
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "one sender is still alive");
        tx2.send(2).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.sender_count(), 0);
        assert_eq!(rx.recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

#[test]
fn last_receiver_drops_queued_messages_at_once_and_refuses_sends() {
    for (tx, rx) in both_flavours() {
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            tx.send(Counted(i, drops.clone())).unwrap();
        }
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "a receiver is still alive");
        drop(rx2);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "dropped with the last receiver"
        );
        assert!(tx.is_empty() && tx.is_closed());
        assert_eq!(tx.receiver_count(), 0);
        let back = tx.send(Counted(9, drops.clone())).unwrap_err().into_inner();
        assert_eq!(back.0, 9);
        drop(back);
        assert!(matches!(
            tx.try_send(Counted(10, drops.clone())),
            Err(TrySendError::Closed(Counted(10, _)))
        ));
        let err = tx.send_batch([Counted(11, drops.clone())]).unwrap_err();
        assert!(err.is_closed());
        assert_eq!(err.into_rest()[0].0, 11);
        assert_eq!(drops.load(Ordering::SeqCst), 6);
    }
}

#[test]
fn a_blocked_receiver_wakes_when_the_last_sender_goes() {
    let (tx, rx) = segmq::unbounded::<u8>();
    let waiting = thread::spawn(move || rx.recv());
    drop(tx);
    assert_eq!(waiting.join().unwrap(), Err(RecvError));
}

#[test]
fn a_blocked_sender_wakes_when_the_last_receiver_goes() {
    let (tx, rx) = segmq::bounded(1);
    tx.send(1u8).unwrap();
    let waiting = thread::spawn(move || tx.send(2));
    drop(rx);
    assert_eq!(waiting.join().unwrap(), Err(SendError(2)));
}

#[test]
fn receiver_is_a_fused_stream() {
    use futures_core::FusedStream;
    let (tx, mut rx) = segmq::unbounded();
    tx.send_batch(0..5).unwrap();
    drop(tx);
    let all: Vec<i32> = futures_executor::block_on(rx.by_ref().collect());
    assert_eq!(all, [0, 1, 2, 3, 4]);
    assert!(rx.is_terminated());
    assert_eq!(futures_executor::block_on(rx.next()), None);
}

#[test]
fn counts_debug_and_auto_traits() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sender<Vec<u8>>>();
    assert_send_sync::<Receiver<Vec<u8>>>();
    let (tx, rx) = segmq::bounded::<u8>(2);
    let (tx2, rx2) = (tx.clone(), rx.clone());
    assert_eq!((tx.sender_count(), tx.receiver_count()), (2, 2));
    assert!(tx.same_channel(&tx2) && rx.same_channel(&rx2));
    assert_eq!(
        format!("{tx:?}"),
        "Sender { len: 0, capacity: Some(2), closed: false }"
    );
    drop((tx, tx2));
    assert_eq!(
        format!("{rx:?}"),
        "Receiver { len: 0, capacity: Some(2), closed: true }"
    );
}

/// Handles cloned into 3 producers and 3 consumers, mixing single and batch calls; the last
/// sender's drop ends the consumers. Exactly-once, per-producer FIFO, for both flavours.
#[test]
fn mpmc_exactly_once_through_handles() {
    const PER: u64 = if cfg!(debug_assertions) {
        20_000
    } else {
        200_000
    };
    for (tx, rx) in [segmq::unbounded(), segmq::bounded(64)] {
        let consumers: Vec<_> = (0..3)
            .map(|c| {
                let rx = rx.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        let more = if c == 0 {
                            rx.recv().map(|m| got.push(m)).is_ok()
                        } else {
                            rx.recv_batch(&mut got, 8 * c).is_ok()
                        };
                        if !more {
                            return got;
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                thread::spawn(move || {
                    let mut i = 0;
                    while i < PER {
                        if p == 0 {
                            tx.send((p, i)).unwrap();
                            i += 1;
                        } else {
                            let end = (i + 16).min(PER);
                            tx.send_batch((i..end).map(|j| (p, j))).unwrap();
                            i = end;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        producers.into_iter().for_each(|p| p.join().unwrap());
        let mut seen = HashSet::new();
        for c in consumers {
            let mut last = [None; 3];
            for (p, i) in c.join().unwrap() {
                assert!(
                    last[p as usize].map_or(true, |l| l < i),
                    "per-producer FIFO"
                );
                last[p as usize] = Some(i);
                assert!(seen.insert((p, i)), "duplicate");
            }
        }
        assert_eq!(seen.len() as u64, 3 * PER, "lost messages");
    }
}
