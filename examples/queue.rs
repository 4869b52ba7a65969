//! The core queue in a few lines: producers, blocking and async consumers, close and drain.
//!
//! `cargo run --release --example queue`

use std::thread;
use std::time::Instant;

use segmq::Queue;

fn main() {
    const N: u64 = 1_000_000;
    let q = Queue::unbounded();

    let start = Instant::now();
    let blocking = {
        let q = q.clone();
        thread::spawn(move || q.iter().fold((0u64, 0u64), |(n, s), v| (n + 1, s + v)))
    };
    let asynchronous = {
        let q = q.clone();
        thread::spawn(move || {
            futures_executor::block_on(async {
                let (mut n, mut s) = (0u64, 0u64);
                while let Ok(v) = q.recv_async().await {
                    n += 1;
                    s += v;
                }
                (n, s)
            })
        })
    };
    for i in 0..N {
        q.send(i).unwrap();
    }
    q.close(); // no more sends; consumers drain, then stop
    let (n1, s1) = blocking.join().unwrap();
    let (n2, s2) = asynchronous.join().unwrap();
    let elapsed = start.elapsed();

    assert_eq!(n1 + n2, N, "every message received exactly once");
    assert_eq!(s1 + s2, N * (N - 1) / 2);
    println!(
        "{N} messages: {n1} by a blocking consumer, {n2} by an async one, in {elapsed:?} ({:.1} M msg/s)",
        N as f64 / elapsed.as_secs_f64() / 1e6
    );
}
