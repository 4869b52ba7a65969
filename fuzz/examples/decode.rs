//! Prints what a fuzz input decodes to, e.g. to turn a crash into a readable regression test:
//! `cargo run --example decode -- queue_ops artifacts/queue_ops/crash-...`.

use arbitrary::{Arbitrary, Unstructured};

fn show<'a, T: Arbitrary<'a> + std::fmt::Debug>(data: &'a [u8]) {
    match T::arbitrary_take_rest(Unstructured::new(data)) {
        Ok(input) => println!("{input:#?}"),
        Err(e) => println!("does not decode: {e}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, target, files @ ..] = &args[..] else {
        eprintln!("usage: decode TARGET FILE...");
        std::process::exit(2);
    };
    for file in files {
        let data = std::fs::read(file).expect("reading the input");
        println!("== {file}");
        match target.as_str() {
            "queue_ops" => show::<segmq_fuzz::queue_ops::Input>(&data),
            "queue_threads" => show::<segmq_fuzz::queue_threads::Input>(&data),
            "mq_ops" => show::<segmq_fuzz::mq_ops::Input>(&data),
            other => panic!("unknown target {other}"),
        }
    }
}
