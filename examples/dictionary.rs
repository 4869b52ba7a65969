//! The Go article's scenario, on `segmq::Mq`: a dictionary service whose missing words are
//! filled in the background by a slow LLM API (5 s per call in the article; scaled down here).
//!
//! `cargo run --release --example dictionary`
//! (`LLM_DELAY_MS=5000` for the real thing; the default is 50 ms).
//!
//! Compared with the article's `main`: publishing is lock-free and typed, a failing or panicking
//! API call is retried with backoff instead of killing its worker, and `stop()` handles every
//! queued word before returning. The job features on top:
//!
//! * each LLM call has a deadline (`QueueOptions::timeout`): the handler takes a context
//!   (`Mq::register_ctx`) and waits on its cancellation token instead of sleeping, so a call
//!   that hangs ends at the deadline, counts as timed out, and is retried;
//! * a word the API rejects (its content policy) is not retried: the handler returns
//!   `SkipRetry`, and the dead-letter handler gets the message with the API's error;
//! * a word the API does not know is asked again later (`publish_in`), on a second queue,
//!   without holding a worker meanwhile;
//! * the queues' counters and handler times are printed at the end (`QueueStats`; with the
//!   `metrics` feature the same counts go to any `metrics` recorder: see
//!   `examples/metrics_prometheus.rs`).

#[path = "support/llm.rs"]
mod llm;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use segmq::{BoxError, Ctx, Mq, Msg, Publisher, QueueOptions, QueueStats, SkipRetry};

/// The word store, and the words already queued (so that a burst of lookups of one missing word
/// costs one API call).
#[derive(Default)]
struct Dictionary {
    words: RwLock<HashMap<String, String>>,
    pending: Mutex<HashSet<String>>,
    unknown: Mutex<Vec<String>>,
    rejected: Mutex<Vec<String>>,
}

impl Dictionary {
    fn get(&self, word: &str) -> Option<String> {
        self.words.read().unwrap().get(word).cloned()
    }

    /// The lookup endpoint: a hit answers at once; a miss queues the word and answers "later".
    fn lookup(&self, word: &str, fill: &Publisher<String>) -> Option<String> {
        if let Some(def) = self.get(word) {
            return Some(def);
        }
        let first_miss = self.pending.lock().unwrap().insert(word.to_owned());
        if first_miss {
            let id = fill.publish(word.to_owned()).expect("queue is running");
            println!("  miss  {word:<12} -> queued as message #{id}");
        }
        None
    }

    fn define(&self, word: &str, def: String) {
        self.words.write().unwrap().insert(word.to_owned(), def);
        self.pending.lock().unwrap().remove(word);
    }
}

fn main() {
    let delay = Duration::from_millis(
        std::env::var("LLM_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    // Keep the demo's output short: one line per panic instead of the default report.
    llm::quiet_llm_panics("  ");

    let dict = Arc::new(Dictionary::default());
    let mq = Mq::new();

    // Words the API did not know, asked once more after a pause (a delayed publish: no worker
    // waits meanwhile).
    let recheck_after = delay * 4;
    let (rechecked_tx, rechecked_rx) = mpsc::channel();
    let d = dict.clone();
    let rechecked_tx = Mutex::new(rechecked_tx);
    let recheck = mq
        .register("recheck-unknown", 1, move |m: &Msg<String>| {
            match llm::llm_define(&m.data, 2, delay) {
                Ok(def) => d.define(&m.data, def),
                Err(e) => {
                    println!("  again {:<12} -> still unknown ({e})", m.data);
                    d.unknown.lock().unwrap().push(m.data.clone());
                }
            }
            let _ = rechecked_tx.lock().unwrap().send(());
            Ok::<_, String>(())
        })
        .expect("register");

    let (d, d2, later) = (dict.clone(), dict.clone(), recheck.clone());
    let options = QueueOptions::new(8)
        .retry(llm::llm_retry())
        // A call that takes more than 5x the usual latency is given up and retried.
        .timeout(delay * 5)
        .dead_letter_with_error(move |m: Msg<String>, why| {
            println!(
                "  dead  {:<12} (message #{}, attempt {}): {why}",
                m.data,
                m.id,
                m.attempt()
            );
            d2.pending.lock().unwrap().remove(&m.data);
            d2.rejected.lock().unwrap().push(m.into_data());
        });
    let fill = mq
        .register_ctx(
            "fill-dictionary",
            options,
            move |ctx: Ctx<'_, String>| -> Result<(), BoxError> {
                let word = ctx.data();
                // The API call's latency, cut short when the token fires (the call's deadline,
                // or a `stop_timeout`'s).
                if ctx
                    .token()
                    .wait_timeout(llm::llm_latency(word, ctx.attempt(), delay))
                {
                    println!(
                        "  slow  {word:<12} -> the call hit its deadline (attempt {})",
                        ctx.attempt()
                    );
                    return Err("the LLM call was cancelled at its deadline".into());
                }
                match llm::llm_answer(word, ctx.attempt()) {
                    Ok(def) => {
                        d.define(word, def);
                        Ok(())
                    }
                    // Retrying cannot change a rejection.
                    Err(e) if e.starts_with("400") => Err(SkipRetry::new(e).into()),
                    Err(e) if e.contains("does not know") => {
                        later
                            .publish_in(recheck_after, word.clone())
                            .map_err(|e| e.to_string())?;
                        println!("  later {word:<12} -> asked again in {recheck_after:?}");
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            },
        )
        .expect("register");
    mq.start().expect("start");

    let started = Instant::now();
    let words: Vec<&str> = llm::WORDS.iter().copied().chain([llm::REJECTED]).collect();
    println!("round 1: every word is missing (LLM delay {delay:?}, 8 workers)");
    for w in &words {
        dict.lookup(w, &fill);
    }
    // Meanwhile the service keeps answering; later requests find the words filled in.
    std::thread::sleep(delay * 3);
    let hits = words
        .iter()
        .filter(|w| dict.lookup(w, &fill).is_some())
        .count();
    println!(
        "round 2 after {:?}: {hits}/{} lookups hit",
        started.elapsed(),
        words.len()
    );

    // The words the stand-in never knows are asked again once each: wait for those re-checks
    // (a stop would hand back the ones not yet due instead of running them).
    let never_known: HashSet<&str> = words
        .iter()
        .copied()
        .filter(|w| llm::llm_answer(w, 2).is_err_and(|e| e.contains("does not know")))
        .collect();
    for _ in &never_known {
        rechecked_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the re-check ran");
    }

    // Shut down: everything queued (including retries waiting for their backoff) is handled.
    mq.stop();
    let hits = words.iter().filter(|w| dict.get(w).is_some()).count();
    println!(
        "after stop ({:?}): {hits}/{} lookups hit",
        started.elapsed(),
        words.len()
    );
    let fill_stats = mq.stats("fill-dictionary").unwrap();
    let recheck_stats = mq.stats("recheck-unknown").unwrap();
    print_stats("fill-dictionary", &fill_stats);
    print_stats("recheck-unknown", &recheck_stats);
    let filled = dict.words.read().unwrap().len() as u64;
    let unknown = dict.unknown.lock().unwrap().len() as u64;
    let rejected = dict.rejected.lock().unwrap().len() as u64;
    assert_eq!(
        filled + unknown + rejected,
        fill_stats.published,
        "every queued word was handled once"
    );
    assert_eq!(recheck_stats.published, never_known.len() as u64);
    assert_eq!(fill.drain_left().len() + recheck.drain_left().len(), 0);
    println!(
        "dictionary: {filled} words filled, unknown: {:?}, rejected: {:?}; nothing lost",
        dict.unknown.lock().unwrap(),
        dict.rejected.lock().unwrap()
    );
}

fn print_stats(queue: &str, s: &QueueStats) {
    println!(
        "{queue}: published {} | ok {} | failed {} (not retried {}) | timed out {} | \
         panicked {} | retried {} | dead-lettered {} | left {}",
        s.published,
        s.handled_ok,
        s.failed,
        s.skipped_retry,
        s.timed_out,
        s.panicked,
        s.retried,
        s.dead_lettered,
        s.left
    );
    println!(
        "  publish -> handler start p50 {:?}, p99 {:?}; handler time p50 {:?}, p99 {:?}",
        s.latency_p50.unwrap_or_default(),
        s.latency_p99.unwrap_or_default(),
        s.handler_p50.unwrap_or_default(),
        s.handler_p99.unwrap_or_default()
    );
}
