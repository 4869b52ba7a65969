//! Inputs the fuzzers found (minimized with `cargo fuzz tmin`, decoded with
//! `cargo run --example decode`), written as readable operation lists and run through the same
//! checks as the fuzz targets (`fuzz/src/`). Each test says what the finding was and whether it
//! was a checker bug (fixed in `fuzz/src/`) or a segmq bug.

// Only some entry points of each module are used here (the fuzz targets use `run`).
#[allow(dead_code)]
#[path = "../fuzz/src/api.rs"]
mod api;
#[allow(dead_code)]
#[path = "../fuzz/src/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../fuzz/src/mq_ops.rs"]
mod mq_ops;
#[allow(dead_code)]
#[path = "../fuzz/src/queue_ops.rs"]
mod queue_ops;

use mq_ops::{DeadLetter, Kind, MqOp, Spec};
use queue_ops::{Api, Flavor, Op};

/// Checker bug (queue_ops, first minutes of fuzzing): a pending `send_async` was woken when a
/// `recv` made room, and the checker then also expected `close` to wake it. A future that was
/// woken is no longer registered until it is polled again, so only one wake-up is due.
#[test]
fn woken_held_send_needs_no_second_wake_on_close() {
    queue_ops::check(&queue_ops::Input {
        flavor: Flavor::Bounded(0), // capacity 1
        api: Api::Queue,
        ops: vec![
            Op::Send(0),
            Op::HoldSendAsync, // pending: the queue is full
            Op::Recv(0),       // makes room: wakes the held send
            Op::Close(0),      // nothing left to wake
            Op::PollHeldSend,  // completes with Closed
        ],
    });
}

/// Checker bug (mq_ops, first minute of fuzzing): `publish_batch` of no items after `stop`
/// returns `Ok(vec![])`, which is right (nothing was refused); the checker expected `Closed`.
#[test]
fn empty_batch_after_stop_is_ok() {
    let spec = Spec {
        concurrency: 1,
        capacity: None,
        attempts: 0,
        delay: 0,
        exponential: false,
        dead_letter: DeadLetter::Default,
        kind: Kind::Threads,
        sync: 0,
    };
    mq_ops::check(&mq_ops::Input {
        ops: vec![
            MqOp::Register { slot: 0, spec },
            MqOp::Stop,
            MqOp::PublishBatch {
                slot: 0,
                plans: vec![],
            },
        ],
    });
}
