//! The dictionary scenario of `examples/dictionary.rs`, as two processes sharing queues over
//! NATS JetStream: a web-facing process that answers lookups and publishes the missing words,
//! and a worker process that calls the slow LLM stand-in and publishes the definitions back.
//!
//! `cargo run --release --features nats --example nats_dictionary`
//!
//! With no argument it starts a `nats-server -js` on a free loopback port (from `PATH`,
//! `/usr/sbin` or `$NATS_SERVER`), runs the worker as a child process and the web role itself,
//! and stops both and the server at the end. `SEGMQ_URL=nats://host:port` uses a running server
//! instead; `... -- web` and `... -- worker` run one role each (start them in two terminals, in
//! any order). `LLM_DELAY_MS` sets the stand-in's delay (default 50 ms).
//!
//! The queues are the same `Mq` code as the in-process example: only the options carry a
//! `Transport`, read from configuration (`SEGMQ_URL`), so `SEGMQ_URL=local` would keep both
//! queues in one process.

#[path = "../tests/support/nats_server.rs"]
mod nats_server;

#[path = "support/llm.rs"]
mod llm;
use llm::llm_define;

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use segmq::{Mq, Msg, QueueOptions, Transport};

/// Fill requests: web -> worker.
const FILL: &str = "fill-dictionary";
/// Answers: worker -> web (`None`: the model does not know the word).
const DEFINITIONS: &str = "definitions";

fn llm_delay() -> Duration {
    Duration::from_millis(
        std::env::var("LLM_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    )
}

/// The worker process: consumes fill requests, publishes definitions. Runs until its stdin
/// closes (or forever, when started by hand with a terminal on stdin: stop it with Ctrl-D).
fn worker(transport: &Transport) {
    llm::quiet_llm_panics("[worker] ");
    let delay = llm_delay();
    let mq = Mq::new();
    let answers = mq
        .register_publisher(DEFINITIONS, QueueOptions::new(1).transport(transport))
        .expect("register the answers queue");
    let (ok, dead) = (answers.clone(), answers);
    let options = QueueOptions::new(8)
        .retry(llm::llm_retry())
        .dead_letter(move |m: Msg<String>| {
            println!(
                "[worker] dead  {:<12} after {} attempts",
                m.data,
                m.attempt()
            );
            let _ = dead.publish((m.into_data(), None::<String>));
        })
        .transport(transport);
    mq.register_with(FILL, options, move |m: &Msg<String>| {
        let def = llm_define(&m.data, m.attempt(), delay)?;
        println!(
            "[worker] filled {:<12} (message #{}, attempt {})",
            m.data,
            m.id,
            m.attempt()
        );
        ok.publish((m.data.clone(), Some(def)))
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    })
    .expect("register the fill queue");
    mq.start().expect("start");
    println!("[worker] ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    mq.stop();
    let s = mq.stats(FILL).unwrap();
    println!(
        "[worker] stopped: {} filled, {} retried, {} dead",
        s.handled_ok, s.retried, s.dead_lettered
    );
}

/// The web process: looks words up, publishes the missing ones, and fills its dictionary from
/// the answers. Returns when every word has an answer.
fn web(transport: &Transport) {
    let words = llm::WORDS;
    let mq = Mq::new();
    let fill = mq
        .register_publisher(FILL, QueueOptions::<String>::new(1).transport(transport))
        .expect("register the fill queue");
    let (tx, rx) = mpsc::channel();
    mq.register_with(
        DEFINITIONS,
        QueueOptions::new(1).transport(transport),
        move |m: &Msg<(String, Option<String>)>| {
            let _ = tx.send(m.data.clone());
            Ok::<_, String>(())
        },
    )
    .expect("register the answers queue");
    mq.start().expect("start");
    let started = Instant::now();
    let mut dictionary: HashMap<String, Option<String>> = HashMap::new();
    let mut queued = std::collections::HashSet::new();
    for w in words {
        if queued.insert(w) {
            let id = fill.publish(w.to_owned()).expect("publish");
            println!("[web]    miss  {w:<12} -> queued as message #{id}");
        }
    }
    while dictionary.len() < queued.len() {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((word, def)) => {
                dictionary.insert(word, def);
            }
            Err(_) => panic!("no answer from the worker for 60 s: is it running?"),
        }
    }
    mq.stop();
    let known = dictionary.values().filter(|d| d.is_some()).count();
    println!(
        "[web]    {} words answered in {:?}: {known} defined, {} unknown to the model",
        dictionary.len(),
        started.elapsed(),
        dictionary.len() - known
    );
}

fn main() {
    let role = std::env::args().nth(1).unwrap_or_default();
    let url = std::env::var("SEGMQ_URL").ok();
    match role.as_str() {
        "web" | "worker" => {
            let url = url.unwrap_or_else(|| "nats://127.0.0.1:4222".into());
            let transport = Transport::from_url(&url).expect("SEGMQ_URL");
            if role == "web" {
                web(&transport)
            } else {
                worker(&transport)
            }
        }
        "" => {
            // One command: a server (unless SEGMQ_URL names one), the worker as a child
            // process, the web role here.
            let server = url.is_none().then(nats_server::NatsServer::start);
            let url = url.unwrap_or_else(|| server.as_ref().unwrap().url());
            println!("server: {url}");
            let mut child = Command::new(std::env::current_exe().unwrap())
                .arg("worker")
                .env("SEGMQ_URL", &url)
                .stdin(Stdio::piped())
                .spawn()
                .expect("start the worker process");
            web(&Transport::from_url(&url).unwrap());
            drop(child.stdin.take()); // the worker stops
            let status = child.wait().unwrap();
            assert!(status.success(), "worker: {status}");
            drop(server);
        }
        other => panic!("unknown role {other:?}: expected `web`, `worker` or nothing"),
    }
}
