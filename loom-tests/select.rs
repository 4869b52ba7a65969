//! Models of `Select` over two queues: exactly once when both become ready at once, the
//! wake-up of a blocked select, and a timeout racing a send.

use loom::thread;
use segmq::{Select, SelectTimeoutError};

use crate::model;

/// Two senders, one per queue, race a blocked select: the select returns one message, from
/// the arm it names; the other message stays in its queue. Exactly once overall, and a lost
/// wake-up deadlocks the model.
///
/// Fails if: `Select::poll_round` polls every arm and keeps the first ready one instead of
/// stopping at it (`filter_map(..).next()` after collecting all): when both arms are ready in
/// one round, the second arm's message is taken and dropped.
#[test]
fn select_takes_exactly_one_message_from_the_chosen_arm() {
    model(|| {
        let (atx, a) = segmq::unbounded::<u32>();
        let (btx, b) = segmq::unbounded::<u32>();
        let sa = thread::spawn(move || atx.send(1).unwrap());
        let sb = thread::spawn(move || btx.send(2).unwrap());
        let (arm, got) = Select::new()
            .recv(&a, |m| ('a', m.unwrap()))
            .recv(&b, |m| ('b', m.unwrap()))
            .wait();
        sa.join().unwrap();
        sb.join().unwrap();
        assert_eq!((arm, got), if got == 1 { ('a', 1) } else { ('b', 2) });
        let mut rest: Vec<u32> = a.try_iter().chain(b.try_iter()).collect();
        rest.push(got);
        rest.sort_unstable();
        assert_eq!(rest, [1, 2], "exactly once");
    });
}

/// A select blocked on two empty queues is woken by a send on the second one.
///
/// Fails if: `Select::wait_until` listens on its own event after polling the arms instead of
/// before: the send's wake-up lands between the poll and the `listen`, and the thread parks
/// forever (deadlock).
#[test]
fn blocked_select_is_woken_by_a_send_on_any_arm() {
    model(|| {
        let (_atx, a) = segmq::unbounded::<u32>();
        let (btx, b) = segmq::unbounded::<u32>();
        let sender = thread::spawn(move || btx.send(7).unwrap());
        let got = Select::new()
            .recv(&a, |m| ('a', m))
            .recv(&b, |m| ('b', m))
            .wait();
        sender.join().unwrap();
        assert_eq!(got, ('b', Ok(7)));
    });
}

/// A select with a deadline races a send (under loom a deadline wait times out at once): the
/// message is either returned by the select or left in the queue, never lost.
///
/// Fails if: on timeout `wait_until` makes its last look with the arms and then reports the
/// timeout anyway (`self.try_round(start); break None`): a message taken at the deadline is
/// dropped.
#[test]
fn select_timeout_racing_a_send_loses_nothing() {
    model(|| {
        let (tx, rx) = segmq::unbounded::<u32>();
        let (_keep, idle) = segmq::unbounded::<u32>();
        let sender = thread::spawn(move || tx.send(5).unwrap());
        let got = Select::new()
            .recv(&idle, |m| m)
            .recv(&rx, |m| m)
            .wait_timeout(std::time::Duration::from_secs(1));
        sender.join().unwrap();
        let left: Vec<u32> = rx.try_iter().collect();
        match got {
            Ok(Ok(5)) => assert!(left.is_empty()),
            Err(SelectTimeoutError) => assert_eq!(left, [5]),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// A select blocked on a send arm (a full ring of 1) and a receive arm (an empty queue), while
/// one thread makes room in the ring and another sends to the queue: the select completes one
/// arm only. If it sent, its message is in the ring and the queue's message is still queued;
/// if it received, its own message is still in its `Option`, unsent. Exactly once, and a lost
/// wake-up of either kind deadlocks the model.
///
/// Fails if: a send arm that finds the ring full drops the message instead of putting it back
/// into its `Option` (`*self.msg = Some(msg)` removed in `SendArm::try_take`): the message is
/// lost when the select then waits and the receive arm wins.
#[test]
fn select_with_a_send_arm_completes_exactly_one_arm() {
    model(|| {
        let (ring_tx, ring) = segmq::bounded::<u32>(1);
        ring_tx.send(0).unwrap();
        let (queue_tx, queue) = segmq::unbounded::<u32>();
        // The drainer hands the receiver back: dropping it would close the ring.
        let drainer = thread::spawn(move || (ring.recv().unwrap(), ring));
        let sender = thread::spawn(move || queue_tx.send(2).unwrap());
        let mut pending = Some(1u32);
        let chosen = Select::new()
            .send(&ring_tx, &mut pending, |r| {
                r.unwrap();
                's'
            })
            .recv(&queue, |m| {
                assert_eq!(m.unwrap(), 2);
                'r'
            })
            .wait();
        let (drained, ring) = drainer.join().unwrap();
        sender.join().unwrap();
        assert_eq!(drained, 0);
        let left_in_ring: Vec<u32> = ring.try_iter().collect();
        match chosen {
            's' => {
                assert_eq!(pending, None, "sent, so gone from the Option");
                assert_eq!(left_in_ring, [1]);
                assert_eq!(queue.try_recv(), Ok(2), "the queue kept its message");
            }
            _ => {
                assert_eq!(pending, Some(1), "not chosen: still unsent");
                assert!(left_in_ring.is_empty());
                assert!(queue.try_recv().is_err(), "received exactly once");
            }
        }
    });
}
