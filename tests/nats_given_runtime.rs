//! Remote queues whose client runs on the application's runtime (`Transport::runtime`),
//! against a real `nats-server -js` (one per test, see `support/nats_server.rs`): async
//! publishes awaited on that runtime, a blocking publish made on its only worker, and a
//! current-thread runtime refused.

#[path = "support/nats_server.rs"]
mod nats_server;

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use nats_server::NatsServer;
use segmq::{Mq, MqError, Msg, QueueOptions, Transport};
use tokio::runtime::{Builder, Runtime};

/// Generous bound for anything that should happen "soon" (loaded CI machines).
const SOON: Duration = Duration::from_secs(30);

/// A runtime from `builder` (IO and time enabled) and a transport whose client runs on it.
fn on_runtime(server: &NatsServer, builder: &mut Builder) -> (Runtime, Transport) {
    let rt = builder.enable_all().build().unwrap();
    let t = Transport::from_url(&server.url())
        .unwrap()
        .runtime(rt.handle().clone());
    (rt, t)
}

/// Publishes from tasks of the given runtime (the path that runs in the caller's task), then
/// handles every message exactly once with its stream sequence as ID.
#[test]
fn async_publishes_on_the_given_runtime_round_trip_exactly_once() {
    let server = NatsServer::start();
    let (rt, t) = on_runtime(&server, Builder::new_multi_thread().worker_threads(2));
    assert!(format!("{t:?}").contains("given_runtime: true"), "{t:?}");
    let mq = Mq::new();
    let (tx, rx) = mpsc::channel();
    let words = mq
        .register_with(
            "given",
            QueueOptions::new(2).transport(&t),
            move |m: &Msg<u64>| {
                tx.send((m.id, m.data)).unwrap();
                Ok::<_, MqError>(())
            },
        )
        .unwrap();
    let ids: Vec<u64> = rt.block_on(async {
        let tasks: Vec<_> = (0..4u64)
            .map(|task| {
                let words = words.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..25 {
                        ids.push(words.publish_async(task * 100 + i).await.unwrap());
                    }
                    ids
                })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.extend(task.await.unwrap());
        }
        ids
    });
    let ids: BTreeSet<u64> = ids.into_iter().collect();
    assert_eq!(ids, (1..=100).collect(), "one stream sequence per publish");
    mq.start().unwrap();
    let got: Vec<(u64, u64)> = (0..100)
        .map(|_| rx.recv_timeout(SOON).expect("every message is handled"))
        .collect();
    let got_ids: BTreeSet<u64> = got.iter().map(|&(id, _)| id).collect();
    let got_data: BTreeSet<u64> = got.iter().map(|&(_, d)| d).collect();
    assert_eq!(got_ids, ids, "each ID handled once");
    let sent: BTreeSet<u64> = (0..4)
        .flat_map(|t| (0..25).map(move |i| t * 100 + i))
        .collect();
    assert_eq!(got_data, sent, "each payload handled once");
    mq.stop();
    assert!(
        rx.try_recv().is_err(),
        "nothing is handled twice after the last of the 100"
    );
}

/// A blocking `publish` made inside a task on the runtime's only worker: the client's work
/// runs while that worker waits (`block_in_place`), where a plain blocking wait would leave
/// the spawned publish no thread to run on.
#[test]
fn a_blocking_publish_on_the_only_worker_does_not_wait_for_itself() {
    let server = NatsServer::start();
    let (rt, t) = on_runtime(&server, Builder::new_multi_thread().worker_threads(1));
    let mq = Mq::new();
    let p = mq
        .register_publisher("only-worker", QueueOptions::<u64>::new(1).transport(&t))
        .unwrap();
    // Run on a helper thread so that a regression fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    let handle = rt.handle().clone();
    std::thread::spawn(move || {
        let ids = handle.block_on(async move {
            tokio::spawn(async move { (0..3).map(|i| p.publish(i).unwrap()).collect::<Vec<_>>() })
                .await
                .unwrap()
        });
        done_tx.send(ids).unwrap();
    });
    let Ok(ids) = done_rx.recv_timeout(SOON) else {
        // Deadlocked: dropping the runtime or the `Mq` would wait for the stuck worker too.
        std::mem::forget(rt);
        std::mem::forget(mq);
        panic!("a blocking publish on the only worker did not complete within {SOON:?}");
    };
    assert_eq!(ids, [1, 2, 3]);
    mq.stop();
}

/// A current-thread runtime is refused at registration, with an error naming the queue and
/// saying why, and nothing is registered.
#[test]
fn a_current_thread_runtime_is_refused_at_registration() {
    let server = NatsServer::start();
    let (rt, t) = on_runtime(&server, &mut Builder::new_current_thread());
    let mq = std::sync::Arc::new(Mq::new());
    // On a helper thread, so that a regression (a registration waiting for a runtime nobody
    // drives) fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    let registering = mq.clone();
    std::thread::spawn(move || {
        let registered = registering
            .register_publisher("one-thread", QueueOptions::<u64>::new(1).transport(&t))
            .map(drop);
        done_tx.send(registered).unwrap();
    });
    let Ok(registered) = done_rx.recv_timeout(SOON) else {
        std::mem::forget(rt);
        panic!("the registration neither failed nor returned within {SOON:?}");
    };
    let err = registered.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MqError::Remote(_)), "{err:?}");
    assert!(
        text.contains("one-thread") && text.contains("multi-thread"),
        "{text}"
    );
    // The name is free: a local queue can take it.
    mq.register("one-thread", 1, |_: &Msg<u64>| Ok::<_, MqError>(()))
        .unwrap();
}
