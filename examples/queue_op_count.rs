//! The queue's send and receive paths on one thread, for instruction counts (not timings).
//!
//! `valgrind --tool=callgrind target/release/examples/queue_op_count [messages] [flavour] [ops]`
//!
//! `flavour` is `unbounded` (the default) or `bounded` (a ring of 1024); `ops` is `single`
//! (the default: `send` then `try_recv`, 512 at a time) or `batch` (`send_batch` then
//! `try_recv_batch` of 64). Run it with two message counts and divide the difference of the
//! total instruction counts by the difference of the counts: that is the cost of one message
//! in and out (claims, slot writes and reads, block changes), free of setup and teardown.
//! One thread, so it counts the path, not the contention: the throughput rows of
//! `examples/compare` measure that.

use segmq::Queue;

const ROUND: u64 = 512;
const BATCH: usize = 64;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let q = match args.next().as_deref() {
        None | Some("unbounded") => Queue::unbounded(),
        Some("bounded") => Queue::bounded(1024),
        Some(other) => panic!("flavour must be `unbounded` or `bounded`, not {other:?}"),
    };
    let batch = match args.next().as_deref() {
        None | Some("single") => false,
        Some("batch") => true,
        Some(other) => panic!("ops must be `single` or `batch`, not {other:?}"),
    };
    let mut received = 0u64;
    let mut sum = 0u64;
    let mut buf = Vec::with_capacity(BATCH);
    let mut next = 0u64;
    while next < n {
        let end = (next + ROUND).min(n);
        if batch {
            while next < end {
                let to = (next + BATCH as u64).min(end);
                q.send_batch(next..to).unwrap();
                next = to;
            }
            while let Ok(k) = q.try_recv_batch(&mut buf, BATCH) {
                received += k as u64;
                sum += buf.drain(..).sum::<u64>();
            }
        } else {
            for i in next..end {
                q.send(i).unwrap();
            }
            next = end;
            while let Ok(v) = q.try_recv() {
                received += 1;
                sum += v;
            }
        }
    }
    assert_eq!(received, n, "every message received once");
    assert_eq!(sum, n * n.saturating_sub(1) / 2, "and each one once");
}
