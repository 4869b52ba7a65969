//! A fixed MQ workload for instruction counts, not for timing: `messages` publishes to one
//! queue, then one worker handles them with a no-op handler, then `stop`.
//!
//! `valgrind --tool=callgrind target/release/examples/mq_instructions 100000` and the same with
//! 200000: the difference of the two totals divided by 100000 is the instructions per message
//! of publish + dispatch, without the fixed cost of start-up and shutdown. Instruction counts do
//! not depend on the machine's load, so they compare builds (a feature's cost when it is not
//! used) where timings cannot.

use segmq::{Mq, Msg};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("messages: a number"))
        .unwrap_or(100_000);
    let mq = Mq::new();
    let p = mq
        .register("q", 1, |_: &Msg<u64>| Ok::<_, std::io::Error>(()))
        .unwrap();
    for i in 0..n {
        p.publish(i).unwrap();
    }
    mq.start().unwrap();
    mq.stop();
    let s = mq.stats("q").unwrap();
    assert_eq!(s.handled_ok, n, "every message handled once");
}
