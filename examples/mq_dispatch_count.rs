//! The `Mq` dispatch path with a no-op handler, for instruction counts (not timings).
//!
//! `valgrind --tool=callgrind target/release/examples/mq_dispatch_count [messages] [plain|ctx]`
//!
//! Publishes `messages` (default 100 000) before the start, then one worker handles them all
//! and `stop` returns. Run it with two message counts and divide the difference of the total
//! instruction counts by the difference of the counts: that is the cost per message (publish +
//! dispatch + handler call + accounting), free of setup and teardown. `plain` (the default)
//! registers a `|m: &Msg<u64>|` handler, `ctx` a context handler (`Mq::register_ctx`) that does
//! not look at its token.

use segmq::{Ctx, Mq, Msg, QueueOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let ctx = args.next().as_deref() == Some("ctx");
    let mq = Mq::new();
    let p = if ctx {
        mq.register_ctx("count", QueueOptions::new(1), |c: Ctx<'_, u64>| {
            std::hint::black_box(c.data());
            Ok::<_, std::io::Error>(())
        })
    } else {
        mq.register("count", 1, |m: &Msg<u64>| {
            std::hint::black_box(m.data);
            Ok::<_, std::io::Error>(())
        })
    }
    .unwrap();
    for i in 0..n {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop();
    assert_eq!(mq.stats("count").unwrap().handled_ok, n);
}
