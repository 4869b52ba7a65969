//! An async pipeline on the channel handles: a stream is forwarded into a bounded queue
//! through a `Sink` (`Sender::into_sink`, with backpressure), a stage reads the receiver as a
//! `Stream`, doubles each number and forwards it into a second queue, and a consumer folds
//! the results. Every task owns its handles (`'static`), so they run on a thread pool; closing
//! the sinks closes the queues, which ends the streams. Every message is counted.
//!
//! `cargo run --example async_pipeline` (also run by `cargo test --test examples`).

use futures_executor::ThreadPool;
use futures_util::{stream, StreamExt};

pub fn main() {
    const N: u64 = 10_000;
    let pool = ThreadPool::builder().pool_size(2).create().unwrap();
    let (input_tx, input) = segmq::bounded::<u64>(8);
    let (doubled_tx, doubled) = segmq::bounded::<u64>(8);
    let (result_tx, result) = segmq::bounded::<(u64, u64)>(1);

    // `forward` sends through the sink, waiting for room, then closes it: the sink's sender is
    // released, the last one, so `input` closes and the stage's stream ends after the drain.
    pool.spawn_ok(async move {
        let numbers = stream::iter(0..N).map(Ok);
        numbers.forward(input_tx.into_sink()).await.unwrap();
    });
    pool.spawn_ok(async move {
        let doubled_numbers = input.map(|n| Ok(2 * n));
        doubled_numbers
            .forward(doubled_tx.into_sink())
            .await
            .unwrap();
    });
    pool.spawn_ok(async move {
        let totals = doubled
            .fold((0u64, 0u64), |(count, sum), n| async move {
                (count + 1, sum + n)
            })
            .await;
        result_tx.into_send_async(totals).await.unwrap();
    });

    let (count, sum) = result.recv().unwrap();
    assert_eq!(count, N, "every number once");
    assert_eq!(sum, (0..N).map(|n| 2 * n).sum::<u64>());
    println!("async pipeline: {count} numbers, sum {sum}");
}
