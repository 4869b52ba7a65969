//! The `Mq` dispatch path with a plain no-op handler, for instruction counts (not timings).
//!
//! `valgrind --tool=callgrind target/release/examples/mq_dispatch_count [messages]`
//!
//! Publishes `messages` (default 100 000) before the start, then one worker handles them all
//! and `stop` returns. Run it with two message counts and divide the difference of the total
//! instruction counts by the difference of the counts: that is the cost per message (publish +
//! dispatch + handler call + accounting), free of setup and teardown.

use segmq::{Mq, Msg};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let mq = Mq::new();
    let p = mq
        .register("count", 1, |m: &Msg<u64>| {
            std::hint::black_box(m.data);
            Ok::<_, std::io::Error>(())
        })
        .unwrap();
    for i in 0..n {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop();
    assert_eq!(mq.stats("count").unwrap().handled_ok, n);
}
