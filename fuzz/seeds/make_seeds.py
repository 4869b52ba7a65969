#!/usr/bin/env python3
"""Writes the hand-made seed inputs to fuzz/corpus/<target>/seed-*.

Each seed is written in terms of the op enums of fuzz/src/*.rs and encoded the way
`arbitrary` 1.x decodes them: an enum is a little-endian u32 `x` choosing variant
`(x * variant_count) >> 32`, then its fields in order; `u8` is one byte, `bool` one byte
(low bit), `Option<T>` a bool then `T`, a `Vec<T>` field a bool before each element and a
false at the end; the last field of an input (`take_rest`) is a `Vec` of bool-prefixed
elements running to the end of the data. The VARIANTS tables must list each enum's variants
in declaration order: keep them in step with the Rust code when an enum changes (the replay
test only checks that every corpus file passes, not that a seed still means what it meant).

Run from anywhere: python3 fuzz/seeds/make_seeds.py
"""

import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")

VARIANTS = {
    "Flavor": ["Unbounded", "Bounded"],
    "Api": ["Queue", "Channel"],
    "Op": [
        "Send", "TrySend", "SendTimeout", "SendDeadline", "SendAsync", "HoldSendAsync",
        "PollHeldSend", "DropHeldSend", "Recv", "TryRecv", "RecvTimeout", "RecvDeadline",
        "RecvAsync", "TryIter", "Iter", "StreamPoll", "StreamDrop", "Close", "Clone", "Drop",
        "TrySendBatch", "SendBatch", "TryRecvBatch", "RecvBatch", "RecvBatchAsync",
    ],
    "ThreadOp": [
        "Send", "TrySend", "SendTimeout", "SendAsync", "Recv", "TryRecv", "RecvTimeout",
        "RecvAsync", "TryIter", "Yield", "Close", "Reclone", "SendBatch", "TrySendBatch",
        "RecvBatch", "TryRecvBatch", "DropSender", "DropReceiver",
    ],
    "Step": ["Ok", "Err", "Panic", "SleepOk", "SleepErr"],
    "DeadLetter": ["Default", "Record", "RecordThenPanic"],
    "MqOp": [
        "Register", "RegisterOther", "Publish", "TryPublish", "PublishByName", "PublishAsync",
        "PublishBatch", "PublishOther", "Lookup", "Start", "Stop", "StopTimeout", "Stats",
        "DrainLeft", "Sleep", "StopConcurrently", "Restart",
    ],
    "Kind": ["Threads", "Async", "Durable", "AsyncDurable"],
    "End": ["Stop", "StopTimeout", "Drop"],
}


def enum(name, variant, *fields):
    names = VARIANTS[name]
    i, n = names.index(variant), len(names)
    x = -(-(i << 32) // n)  # ceil(i * 2^32 / n)
    assert (x * n) >> 32 == i
    return x.to_bytes(4, "little") + b"".join(fields)


def u8(n):
    return bytes([n])


def flag(b):
    return bytes([1 if b else 0])


def some(value):
    return b"\x01" + value


NONE = b"\x00"


def vec(items):
    return b"".join(b"\x01" + item for item in items) + b"\x00"


def rest(items):
    return b"".join(b"\x01" + item for item in items)


# ---- queue_ops: Input { flavor, api, ops (rest) } ----

def qop(v, *fields):
    return enum("Op", v, *fields)


def unbounded():
    return enum("Flavor", "Unbounded")


def bounded(cap):
    return enum("Flavor", "Bounded", u8(cap - 1))


QUEUE = enum("Api", "Queue")
CHANNEL = enum("Api", "Channel")
TX0, RX0, TX1, RX1 = u8(0), u8(1), u8(2), u8(3)  # Close/Clone/Drop on a channel: h % 2 picks


H0 = u8(0)
QUEUE_OPS = {
    "fifo-close": unbounded() + QUEUE + rest([
        qop("Send", H0), qop("Send", H0), qop("TrySend", H0),
        qop("Recv", H0), qop("TryRecv", H0), qop("Close", H0), qop("Recv", H0),
        qop("Recv", H0), qop("Send", H0), qop("Close", H0),
    ]),
    "bounded1-held-send": bounded(1) + QUEUE + rest([
        qop("Send", H0), qop("TrySend", H0), qop("Send", H0), qop("HoldSendAsync"),
        qop("Recv", H0), qop("PollHeldSend"), qop("HoldSendAsync"), qop("Close", H0),
        qop("PollHeldSend"), qop("Iter", H0),
    ]),
    "bounded2-stream": bounded(2) + QUEUE + rest([
        qop("StreamPoll"), qop("Send", H0), qop("StreamPoll"), qop("StreamPoll"),
        qop("Send", H0), qop("Send", H0), qop("SendTimeout", H0), qop("Close", H0),
        qop("StreamPoll"), qop("StreamPoll"), qop("StreamPoll"), qop("StreamDrop"),
    ]),
    "handles": bounded(3) + QUEUE + rest([
        qop("Clone", u8(0)), qop("Clone", u8(1)), qop("Send", u8(1)), qop("Send", u8(2)),
        qop("Drop", u8(0)), qop("Recv", u8(1)), qop("Drop", u8(1)), qop("Drop", u8(0)),
        qop("Send", u8(0)), qop("Drop", u8(0)),
    ]),
    "async-timeouts": unbounded() + QUEUE + rest([
        qop("SendAsync", H0), qop("RecvAsync", H0), qop("RecvAsync", H0),
        qop("SendDeadline", H0), qop("SendTimeout", H0), qop("RecvDeadline", H0),
        qop("RecvTimeout", H0), qop("RecvTimeout", H0), qop("TryIter", H0, u8(7)),
        qop("Send", H0), qop("DropHeldSend"), qop("Close", H0),
    ]),
    "batches": bounded(4) + QUEUE + rest([
        qop("TrySendBatch", H0, u8(3)), qop("TrySendBatch", H0, u8(3)),
        qop("RecvBatch", H0, u8(2)), qop("SendBatch", H0, u8(5)), qop("TryRecvBatch", H0, u8(5)),
        qop("RecvBatchAsync", H0, u8(5)), qop("SendBatch", H0, u8(2)), qop("Close", H0),
        qop("SendBatch", H0, u8(2)), qop("RecvBatch", H0, u8(1)), qop("TryRecvBatch", H0, u8(4)),
        qop("RecvBatch", H0, u8(4)),
    ]),
    "channel-last-sender": bounded(2) + CHANNEL + rest([
        qop("Clone", TX0), qop("Clone", RX0), qop("Send", u8(0)), qop("StreamPoll"),
        qop("StreamPoll"), qop("Send", u8(1)), qop("Drop", TX0), qop("Send", u8(0)),
        qop("Drop", TX0), qop("Recv", u8(1)), qop("StreamPoll"), qop("Drop", RX0),
        qop("Drop", RX0),
    ]),
    "channel-last-receiver": unbounded() + CHANNEL + rest([
        qop("TrySendBatch", H0, u8(5)), qop("Clone", RX0), qop("TryRecvBatch", H0, u8(2)),
        qop("Drop", RX0), qop("Send", H0), qop("Drop", RX0), qop("Send", H0),
        qop("TrySend", H0), qop("SendBatch", H0, u8(3)), qop("Close", TX0), qop("Drop", TX0),
    ]),
}

# ---- queue_threads: Input { flavor, api, drain, threads (rest) } ----


def top(v, *fields):
    return enum("ThreadOp", v, *fields)


QUEUE_THREADS = {
    "producer-consumer": unbounded() + QUEUE + flag(True) + rest([
        vec([top("Send", u8(3)), top("Send", u8(3)), top("Close")]),
        vec([top("Recv")] * 8),
    ]),
    "bounded1-three": bounded(1) + QUEUE + flag(False) + rest([
        vec([top("Send", u8(3))] * 3),
        vec([top("Recv"), top("Yield", u8(5)), top("TryRecv"), top("Recv")]),
        vec([top("TrySend"), top("RecvTimeout"), top("Close")]),
    ]),
    "bounded2-async": bounded(2) + QUEUE + flag(True) + rest([
        vec([top("SendAsync")] * 4 + [top("Reclone"), top("SendTimeout")]),
        vec([top("RecvAsync"), top("TryIter", u8(7)), top("Recv"), top("Recv")]),
    ]),
    "batches": bounded(3) + QUEUE + flag(True) + rest([
        vec([top("SendBatch", u8(5)), top("TrySendBatch", u8(4)), top("SendBatch", u8(3))]),
        vec([top("RecvBatch", u8(4)), top("TryRecvBatch", u8(5)), top("RecvBatch", u8(2))]),
        vec([top("SendBatch", u8(2)), top("RecvBatch", u8(1)), top("Close")]),
    ]),
    "channel-drop-senders": unbounded() + CHANNEL + flag(True) + rest([
        vec([top("Send", u8(2)), top("DropSender"), top("Recv"), top("RecvBatch", u8(4))]),
        vec([top("SendBatch", u8(3)), top("Reclone"), top("DropSender"), top("Recv")]),
    ]),
    "channel-drop-receivers": bounded(2) + CHANNEL + flag(False) + rest([
        vec([top("Send", u8(3)), top("DropReceiver"), top("Send", u8(3))]),
        vec([top("Recv"), top("DropReceiver"), top("SendBatch", u8(4))]),
        vec([top("TryRecv"), top("Yield", u8(9)), top("DropReceiver"), top("TrySend")]),
    ]),
}

# ---- mq_ops: Input { ops (rest) } ----


def step(v, *fields):
    return enum("Step", v, *fields)


def plan(a, b, c):
    return a + b + c


OK = plan(step("Ok"), step("Ok"), step("Ok"))
FLAKY = plan(step("Err"), step("Panic"), step("Ok"))
DOOMED = plan(step("Err"), step("SleepErr", u8(1)), step("Panic"))
SLOW = plan(step("SleepOk", u8(2)), step("Ok"), step("Ok"))


def spec(concurrency, capacity, attempts, delay, exponential, dead_letter, kind="Threads",
         sync=0):
    cap = NONE if capacity is None else some(u8(capacity))
    return (u8(concurrency) + cap + u8(attempts - 1) + u8(delay) + flag(exponential)
            + enum("DeadLetter", dead_letter) + enum("Kind", kind) + u8(sync))


def mop(v, *fields):
    return enum("MqOp", v, *fields)


def register(slot, s):
    return mop("Register", u8(slot), s)


def publish(v, slot, p):
    return mop(v, u8(slot), p)


MQ_OPS = {
    "simple": rest([
        register(0, spec(1, None, 1, 0, False, "Default")),
        publish("Publish", 0, OK), publish("Publish", 0, OK), publish("PublishByName", 0, OK),
        mop("Start"), publish("Publish", 0, OK), mop("Stop"), publish("Publish", 0, OK),
    ]),
    "retries-bounded": rest([
        register(0, spec(2, 2, 3, 1, True, "Record")),
        publish("Publish", 0, FLAKY), publish("Publish", 0, DOOMED),
        publish("TryPublish", 0, OK), publish("Publish", 0, OK), mop("Start"),
        publish("Publish", 0, SLOW), publish("Publish", 0, DOOMED), mop("StopTimeout", u8(1)),
        mop("DrainLeft", u8(0)), mop("Stop"), mop("Stats", u8(0)),
    ]),
    "errors": rest([
        register(0, spec(0, None, 1, 0, False, "Default")),
        register(0, spec(1, 0, 1, 0, False, "Default")),
        mop("RegisterOther", u8(1)), mop("PublishOther", u8(1)),
        publish("PublishByName", 1, OK), publish("Publish", 2, OK), mop("PublishOther", u8(2)),
        mop("Lookup", u8(1), flag(True)), mop("Lookup", u8(1), flag(False)),
        mop("Lookup", u8(2), flag(False)), register(1, spec(1, None, 1, 0, False, "Default")),
        mop("Start"), mop("Start"), mop("Stop"), register(2, spec(1, None, 1, 0, False, "Default")),
        mop("Start"), mop("PublishOther", u8(1)), mop("Stats", u8(2)),
    ]),
    "never-started": rest([
        register(0, spec(1, 3, 2, 0, False, "Record")),
        publish("Publish", 0, OK), publish("PublishAsync", 0, FLAKY),
        mop("PublishBatch", u8(0), vec([OK, DOOMED, OK])), publish("Publish", 0, OK),
        mop("StopTimeout", u8(0)), mop("DrainLeft", u8(0)), publish("Publish", 0, OK),
    ]),
    "panicking-dead-letter": rest([
        register(1, spec(2, None, 2, 1, False, "RecordThenPanic")),
        register(2, spec(1, 1, 1, 0, False, "Default")), mop("Start"),
        mop("PublishBatch", u8(1), vec([DOOMED, SLOW, FLAKY, OK])),
        publish("PublishAsync", 2, DOOMED), publish("Publish", 2, OK), mop("Sleep", u8(3)),
        mop("Lookup", u8(1), flag(False)), publish("Publish", 1, FLAKY), mop("Stats", u8(1)),
        mop("Stop"), mop("DrainLeft", u8(1)),
    ]),
    "async-concurrent-stops": rest([
        register(0, spec(2, None, 3, 1, False, "Record", "Async")),
        register(1, spec(1, 2, 2, 0, True, "Default", "Async")), mop("Start"),
        publish("Publish", 0, FLAKY), publish("PublishAsync", 1, SLOW),
        mop("PublishBatch", u8(0), vec([DOOMED, SLOW, OK])), publish("Publish", 1, DOOMED),
        mop("StopConcurrently", NONE, NONE), mop("Stats", u8(0)), mop("DrainLeft", u8(1)),
    ]),
    "durable-restarts": rest([
        register(0, spec(1, None, 3, 1, False, "Record", "Durable", 0)),
        register(1, spec(2, None, 2, 0, False, "Default", "AsyncDurable", 2)),
        publish("Publish", 0, FLAKY), publish("Publish", 1, OK),
        mop("PublishBatch", u8(0), vec([OK, DOOMED, SLOW])), mop("Restart", enum("End", "Drop")),
        mop("Start"), publish("Publish", 0, SLOW), publish("Publish", 1, DOOMED),
        mop("Restart", enum("End", "StopTimeout", u8(0))), publish("Publish", 0, OK),
        mop("Start"), mop("StopConcurrently", some(u8(1)), NONE),
    ]),
    "durable-crash-running": rest([
        register(2, spec(2, None, 2, 2, True, "RecordThenPanic", "Durable", 1)), mop("Start"),
        mop("PublishBatch", u8(2), vec([SLOW, SLOW, FLAKY, DOOMED])), publish("Publish", 2, SLOW),
        mop("StopTimeout", u8(1)), mop("Restart", enum("End", "Drop")),
        mop("Start"), publish("Publish", 2, OK), mop("Restart", enum("End", "Stop")),
        publish("PublishByName", 2, OK),
    ]),
}


def main():
    for target, seeds in [("queue_ops", QUEUE_OPS), ("queue_threads", QUEUE_THREADS),
                          ("mq_ops", MQ_OPS)]:
        os.makedirs(os.path.join(ROOT, target), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(ROOT, target, "seed-" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
