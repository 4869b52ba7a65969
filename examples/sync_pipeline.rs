//! A blocking pipeline on the channel handles: two producers feed a stage that selects over
//! both inputs (`Select`), squares each number and passes it on over a bounded queue
//! (backpressure) to a consumer. Closing flows down the pipeline by dropping senders, and every
//! message is counted.
//!
//! `cargo run --example sync_pipeline` (also run by `cargo test --test examples`).

use std::thread;

use segmq::{RecvError, Select};

/// Which input a select arm reports on.
enum Input {
    Number(u64),
    Closed(usize),
}

pub fn main() {
    const PER_PRODUCER: u64 = 10_000;
    let (evens_tx, evens) = segmq::bounded::<u64>(64);
    let (odds_tx, odds) = segmq::bounded::<u64>(64);
    let (squares_tx, squares) = segmq::bounded::<u64>(16);

    let producers = [
        thread::spawn(move || (0..PER_PRODUCER).for_each(|i| evens_tx.send(2 * i).unwrap())),
        thread::spawn(move || (0..PER_PRODUCER).for_each(|i| odds_tx.send(2 * i + 1).unwrap())),
    ];

    let stage = thread::spawn(move || {
        let mut open = [true, true];
        while open.iter().any(|&o| o) {
            let arm = |i: usize| {
                move |m: Result<u64, RecvError>| m.map_or(Input::Closed(i), Input::Number)
            };
            let mut select = Select::new();
            if open[0] {
                select = select.recv(&evens, arm(0));
            }
            if open[1] {
                select = select.recv(&odds, arm(1));
            }
            match select.wait() {
                Input::Number(n) => squares_tx.send(n * n).unwrap(),
                // Closed and drained: stop selecting on that input.
                Input::Closed(i) => open[i] = false,
            }
        }
        // `squares_tx` is dropped here: the consumer's loop ends once it has drained.
    });

    let consumer = thread::spawn(move || {
        let (mut count, mut sum) = (0u64, 0u64);
        for square in squares {
            count += 1;
            sum += square;
        }
        (count, sum)
    });

    for p in producers {
        p.join().unwrap();
    }
    stage.join().unwrap();
    let (count, sum) = consumer.join().unwrap();
    let n = 2 * PER_PRODUCER;
    assert_eq!(count, n, "every number once");
    assert_eq!(sum, (0..n).map(|i| i * i).sum::<u64>());
    println!("sync pipeline: {count} numbers, sum of squares {sum}");
}
