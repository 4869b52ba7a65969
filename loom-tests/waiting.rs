//! Models of the waiting layer beyond the first round: a waiter woken with nothing to take
//! that listens again, and deadline waits (the last look after the timer fires).
//!
//! Under loom a deadline passes at once (loom has no clock, `src/sync.rs`): a deadline wait
//! keeps a notification that had already arrived and otherwise times out. Loom places the
//! counterpart's steps before, between and after the waiter's, which covers every outcome a
//! real timer can produce at the moment it fires.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use loom::future::block_on;
use loom::thread;
use segmq::{Queue, Recv, RecvTimeoutError, SendFut, SendTimeoutError, TryRecvError};

use crate::{model, model_with_bound, poll_until_listening};

/// Round two of the waiter protocol: a blocked receiver is woken by the first message, the
/// main thread takes that message back before it (a thief), so the receiver finds nothing,
/// listens again, and must be woken by the second message. Two threads, so it runs at
/// preemption bound 3.
///
/// Fails if: a round after the first parks right after listening again, without the re-check
/// (`return None` right after `join_waiters` in `Waiter::attempt`, in rounds after the first):
/// a send between the woken round's empty pop and its new `listen()` notifies nobody, and the
/// receiver parks for ever.
#[test]
fn woken_receiver_that_finds_nothing_listens_again() {
    model_with_bound(3, || {
        let q = Queue::unbounded();
        let receiver = {
            let q = q.clone();
            thread::spawn(move || q.recv().unwrap())
        };
        q.send(1u32).unwrap();
        let stolen = q.try_recv().ok();
        q.send(2).unwrap();
        let got = receiver.join().unwrap();
        let mut all: Vec<u32> = [Some(got), stolen].into_iter().flatten().collect();
        all.extend(std::iter::from_fn(|| q.try_recv().ok()));
        all.sort_unstable();
        assert_eq!(all, [1, 2], "exactly once");
    });
}

/// Two senders counted in `head` at once on a full ring of capacity 1: a blocking sender
/// thread and a pending `send_async` future. The main thread owns the future: it polls it
/// once (so the future is counted first), then receives one message blocking and drives the
/// future and two `recv_async` calls under `block_on`, a real executor whose waker unparks
/// it (two threads in all). Each receive makes room for one; whichever sender the room is
/// not taken by must be woken later, so all three messages arrive.
///
/// The future is only polled again when its waker fires (`Waiter::poll_listener` first): it
/// does not look at the ring on a poll without a wake-up, so a wake-up that goes missing
/// hangs the model, whichever sender it was meant for.
///
/// Fails if: the bounded `pop` never reports a parked sender (`wake_sender: false`): neither
/// sender is woken and `block_on` parks for ever. Also fails if a waiter that ends holding an
/// unused wake-up drops it instead of passing it on (`Waiter::finish` without `notify_more`):
/// the blocking sender, woken by a receive after its own re-check already pushed, takes the
/// future's wake-up with it.
#[test]
fn two_senders_parked_on_a_full_ring() {
    model(|| {
        let q = Queue::bounded(1);
        q.send(0u32).unwrap();
        let mut send = q.send_async(2);
        assert!(
            poll_until_listening(&mut send).is_pending(),
            "the ring is full"
        );
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(1).unwrap())
        };
        assert_eq!(q.recv(), Ok(0));
        let mut got = block_on(SendWhileReceiving {
            queue: &q,
            send: Some(send),
            recv: None,
            got: Vec::new(),
            want: 2,
        });
        sender.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// Drives a pending send future and receives `want` messages, on one task: ready once both
/// are done.
struct SendWhileReceiving<'a> {
    queue: &'a Queue<u32>,
    send: Option<SendFut<'a, u32>>,
    recv: Option<Pin<Box<Recv<'a, u32>>>>,
    got: Vec<u32>,
    want: usize,
}

impl Future for SendWhileReceiving<'_> {
    type Output = Vec<u32>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<u32>> {
        let this = &mut *self;
        if let Some(send) = this.send.as_mut() {
            if let Poll::Ready(sent) = Pin::new(send).poll(cx) {
                sent.expect("the queue stays open");
                this.send = None;
            }
        }
        while this.got.len() < this.want {
            let queue = this.queue;
            let recv = this
                .recv
                .get_or_insert_with(|| Box::pin(queue.recv_async()));
            match recv.as_mut().poll(cx) {
                Poll::Ready(msg) => {
                    this.got.push(msg.expect("the queue stays open"));
                    this.recv = None;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        if this.send.is_some() {
            return Poll::Pending;
        }
        Poll::Ready(std::mem::take(&mut this.got))
    }
}

/// `recv_deadline` racing a send, with a second receiver blocked without a deadline: if the
/// deadline receiver's wait consumed the notification, it must take the message (the last
/// look, or the notified round), otherwise the blocked receiver is woken. Either way the one
/// message is received exactly once and nobody is left parked.
///
/// Fails if: a deadline wait returns `Timeout` whatever `wait_blocking` said (a consumed
/// notification ignored, no last look): the notification dies with the deadline receiver and
/// the blocked receiver never wakes. Needs preemption bound 3 (2 threads besides main).
#[test]
fn recv_deadline_last_look_races_a_send() {
    model_with_bound(3, || {
        let q = Queue::unbounded();
        let timed = {
            let q = q.clone();
            thread::spawn(move || q.recv_deadline(Instant::now() + Duration::from_secs(60)))
        };
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.recv().ok())
        };
        q.send(7u32).unwrap();
        let timed = timed.join().unwrap();
        if timed.is_ok() {
            // The blocked receiver may still be parked: release it.
            q.close();
        }
        let blocked = blocked.join().unwrap();
        match (timed, blocked) {
            (Ok(7), None) | (Err(RecvTimeoutError::Timeout), Some(7)) => {}
            other => panic!("message lost or duplicated: {other:?}"),
        }
    });
}

/// `send_deadline` on a full ring racing the receive that makes room: the message is either
/// accepted (and received) or given back; never both, never lost.
///
/// Fails if: the last look's result is thrown away (`let _ = step(); break None;` in
/// `wait_send`): a message accepted by the last look would also be handed back (the `expect`
/// in `send_blocking` fires first). Needs preemption bound 3.
#[test]
fn send_deadline_last_look_races_a_receive() {
    model_with_bound(3, || {
        let q = Queue::bounded(1);
        q.send(1u32).unwrap();
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send_deadline(2, Instant::now() + Duration::from_secs(60)))
        };
        assert_eq!(q.recv(), Ok(1));
        let sent = sender.join().unwrap();
        match sent {
            Ok(()) => assert_eq!(q.try_recv(), Ok(2)),
            Err(SendTimeoutError::Timeout(2)) => {}
            other => panic!("unexpected: {other:?}"),
        }
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}

/// An async receive on an empty queue yields first (it wakes its own task and returns
/// `Pending`, holding no listener and not counted), then tries again and listens, while a
/// send arrives from another thread at any point of that: the message is received either way
/// (found on a retry after the yield, or delivered by the send's wake-up once listening), and
/// exactly once.
///
/// Fails if: the yield returns `Pending` without waking its own task (`wake_by_ref` removed
/// from `Waiter::yield_before_listening`): nobody wakes the task, so `block_on` parks for ever.
#[test]
fn async_receive_yields_then_listens() {
    model(|| {
        let q = Queue::unbounded();
        let sender = {
            let q = q.clone();
            thread::spawn(move || q.send(7u32).unwrap())
        };
        assert_eq!(block_on(q.recv_async()), Ok(7));
        sender.join().unwrap();
        assert_eq!(q.try_recv(), Err(TryRecvError::Empty));
    });
}
