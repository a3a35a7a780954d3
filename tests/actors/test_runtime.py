"""Behaviour of the pooled actor runtime: semantics, invariants, pykka interop, shutdown."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multiraft.actors.runtime import (
    ManualScheduler,
    PooledActor,
    PooledActorRef,
    PooledRuntime,
    ThreadPoolScheduler,
)

pytestmark = pytest.mark.timeout(60)
WAIT = 10.0
"""Bound on every blocking wait: a hang fails the test instead of stalling the suite."""


class Recorder(PooledActor):
    """Records every message and the lifecycle hooks it went through."""

    def __init__(self, log: list[Any] | None = None) -> None:
        self.log: list[Any] = [] if log is None else log
        self.threads: set[threading.Thread] = set()

    def on_start(self) -> None:
        self.log.append("start")

    def on_stop(self) -> None:
        self.log.append("stop")

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        self.log.append(("failure", exc_type))

    def on_receive(self, message: Any) -> Any:
        self.threads.add(threading.current_thread())
        if isinstance(message, BaseException):
            raise message
        self.log.append(message)
        return ("handled", message)

    def echo(self, value: Any, *, suffix: Any = "") -> Any:
        return value + suffix


# --- tell / ask / stop ---------------------------------------------------------------


def test_ask_returns_answer_and_tell_is_handled_in_order(pooled: PooledRuntime) -> None:
    ref = pooled.spawn(Recorder)
    for i in range(100):
        ref.tell(i)
    assert ref.ask("last", timeout=WAIT) == ("handled", "last")
    assert ref.proxy().log.get(timeout=WAIT) == ["start", *range(100), "last"]


def test_ask_without_blocking_returns_a_pykka_threading_future(pooled: PooledRuntime) -> None:
    ref = pooled.spawn(Recorder)
    future = ref.ask("x", block=False)
    assert isinstance(future, pykka.ThreadingFuture)
    assert future.get(timeout=WAIT) == ("handled", "x")


def test_per_sender_order_holds_with_many_senders(pooled: PooledRuntime) -> None:
    ref = pooled.spawn(Recorder)
    senders = 4
    per_sender = 2_000

    def send(sender: int) -> None:
        for seq in range(per_sender):
            ref.tell((sender, seq))

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    log = ref.proxy().log.get(timeout=WAIT)[1:]
    assert len(log) == senders * per_sender
    for sender in range(senders):
        assert [seq for s, seq in log if s == sender] == list(range(per_sender))


def test_messages_sent_by_init_wait_for_on_start(stepped: PooledRuntime, manual: ManualScheduler) -> None:
    class SelfTeller(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.actor_ref.tell("from init")

    ref = stepped.spawn(SelfTeller)
    manual.run_until_idle()
    future = ref.proxy().log
    manual.run_until_idle()
    assert future.get(timeout=0) == ["start", "from init"]


def test_stop_handles_earlier_messages_then_refuses_new_ones(
    stepped: PooledRuntime, manual: ManualScheduler
) -> None:
    log: list[Any] = []
    ref = stepped.spawn(Recorder, log)
    before = ref.ask("before", block=False)
    stopped = ref.stop(block=False)
    stopped_twice = ref.stop(block=False)
    after = ref.ask("after", block=False)
    assert ref.is_alive()
    manual.run_until_idle()

    assert before.get(timeout=0) == ("handled", "before")
    assert stopped.get(timeout=0) is True
    assert stopped_twice.get(timeout=0) is True
    with pytest.raises(pykka.ActorDeadError):
        after.get(timeout=0)
    assert log == ["start", "before", "stop"]
    assert not ref.is_alive()
    assert ref.stop() is False
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late")
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late", block=False).get(timeout=0)
    with pytest.raises(pykka.ActorDeadError):
        ref.proxy()


def test_stop_from_inside_the_actor(stepped: PooledRuntime, manual: ManualScheduler) -> None:
    class Quitter(Recorder):
        def on_receive(self, message: Any) -> Any:
            self.stop()
            return super().on_receive(message)

    log: list[Any] = []
    ref = stepped.spawn(Quitter, log)
    answer = ref.ask("bye", block=False)
    manual.run_until_idle()
    assert answer.get(timeout=0) == ("handled", "bye")
    assert not ref.is_alive()
    assert log == ["start", "bye", "stop"]


# --- proxy ----------------------------------------------------------------------------


@pykka.traversable
class Counter:
    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> int:
        self.value += 1
        return self.value


class WithProxyApi(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.name = "initial"
        self.counter = Counter()


def test_proxy_behaves_like_a_pykka_proxy(pooled: PooledRuntime) -> None:
    proxy = pooled.spawn(WithProxyApi).proxy()
    assert isinstance(proxy, pykka.ActorProxy)
    assert proxy.echo("a", suffix="!").get(timeout=WAIT) == "a!"
    name = proxy.name
    assert isinstance(name, pykka.Future)
    assert name.get(timeout=WAIT) == "initial"
    proxy.name = "changed"  # blocks until set, as in pykka
    assert proxy.name.get(timeout=WAIT) == "changed"
    assert proxy.counter.bump().get(timeout=WAIT) == 1
    proxy.counter.bump.defer()
    assert proxy.counter.value.get(timeout=WAIT) == 2
    with pytest.raises(AttributeError):
        _ = proxy.missing


# --- failure policy ----------------------------------------------------------------------


def test_exception_in_ask_goes_to_the_asker_and_the_actor_lives_on(pooled: PooledRuntime) -> None:
    ref = pooled.spawn(Recorder)
    with pytest.raises(ValueError, match="bad ask"):
        ref.ask(ValueError("bad ask"), timeout=WAIT)
    failed_call = ref.proxy().echo(1, suffix="x")  # int + str raises TypeError in the actor
    with pytest.raises(TypeError):
        failed_call.get(timeout=WAIT)
    assert ref.is_alive()
    assert ref.ask("still here", timeout=WAIT) == ("handled", "still here")


def test_exception_in_tell_calls_on_failure_and_stops_only_that_actor(
    stepped: PooledRuntime, manual: ManualScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[Any] = []
    bystander_log: list[Any] = []
    ref = stepped.spawn(Recorder, log)
    bystander = stepped.spawn(Recorder, bystander_log)
    ref.tell(ValueError("bad tell"))
    queued = ref.ask("queued behind the failure", block=False)
    stop = ref.stop(block=False)
    bystander.tell("fine")
    with caplog.at_level(logging.ERROR, logger="actors.runtime"):
        manual.run_until_idle()

    assert log == ["start", ("failure", ValueError)]  # on_failure, and no on_stop
    assert not ref.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        queued.get(timeout=0)
    assert stop.get(timeout=0) is True
    assert "bad tell" in caplog.text
    assert bystander.is_alive()
    assert bystander_log == ["start", "fine"]


def test_exception_in_on_start_stops_the_actor_without_on_stop(
    stepped: PooledRuntime, manual: ManualScheduler
) -> None:
    class BadStart(Recorder):
        def on_start(self) -> None:
            raise RuntimeError("no start")

    log: list[Any] = []
    ref = stepped.spawn(BadStart, log)
    answer = ref.ask("hello", block=False)
    manual.run_until_idle()
    assert not ref.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        answer.get(timeout=0)
    assert log == []


def test_exception_in_on_stop_is_logged_and_the_actor_still_stops(
    pooled: PooledRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    class BadStop(Recorder):
        def on_stop(self) -> None:
            raise RuntimeError("no stop")

    ref = pooled.spawn(BadStop)
    with caplog.at_level(logging.ERROR, logger="actors.runtime"):
        assert ref.stop(timeout=WAIT) is True
    assert not ref.is_alive()
    assert "no stop" in caplog.text


def test_base_exception_in_ask_reaches_the_asker_and_fails_the_actor(
    stepped: PooledRuntime, manual: ManualScheduler
) -> None:
    log: list[Any] = []
    ref = stepped.spawn(Recorder, log)
    answer = ref.ask(SystemExit(3), block=False)
    manual.run_until_idle()
    with pytest.raises(SystemExit):
        answer.get(timeout=0)
    assert not ref.is_alive()
    assert log == ["start", ("failure", SystemExit)]


def test_exception_in_init_propagates_to_spawn(pooled: PooledRuntime) -> None:
    class BadInit(PooledActor):
        def __init__(self) -> None:
            raise KeyError("init")

    with pytest.raises(KeyError):
        pooled.spawn(BadInit)
    assert pooled.actor_count == 0


# --- pykka interop ----------------------------------------------------------------------


class PykkaAsker(pykka.ThreadingActor):
    """A plain pykka actor that asks a pooled actor from its own thread."""

    def on_receive(self, message: Any) -> Any:
        pooled_ref, question = message
        return pooled_ref.ask(question, timeout=WAIT)


class PykkaEcho(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return ("pykka", message)


class AsksPykka(PooledActor):
    """A pooled actor that asks a pykka actor (blocking a worker; fine for pykka targets)."""

    def on_receive(self, message: Any) -> Any:
        pykka_ref, question = message
        return pykka_ref.ask(question, timeout=WAIT), pykka_ref.proxy().on_receive("p").get(
            timeout=WAIT
        )


@pytest.fixture
def with_pykka(pooled: PooledRuntime) -> Iterator[PooledRuntime]:
    """The `pooled` runtime; pykka actors started by the test are stopped before it."""
    yield pooled
    pykka.ActorRegistry.stop_all(timeout=WAIT)


def test_pykka_actor_asks_pooled_actor_and_back(with_pykka: PooledRuntime) -> None:
    pooled_ref = with_pykka.spawn(Recorder)
    asker = PykkaAsker.start()
    assert asker.ask((pooled_ref, "q"), timeout=WAIT) == ("handled", "q")

    echo = PykkaEcho.start()
    asks_pykka = with_pykka.spawn(AsksPykka)
    assert asks_pykka.ask((echo, "q"), timeout=WAIT) == (("pykka", "q"), ("pykka", "p"))


def test_futures_mix_with_pykka_futures_and_pooled_actors_stay_out_of_the_registry(
    with_pykka: PooledRuntime,
) -> None:
    echo = PykkaEcho.start()
    pooled_ref = with_pykka.spawn(Recorder)
    futures = [pooled_ref.ask(1, block=False), echo.ask(2, block=False)]
    assert pykka.get_all(futures, timeout=WAIT) == [("handled", 1), ("pykka", 2)]
    assert pykka.ActorRegistry.get_all() == [echo]


def test_exception_from_pooled_actor_propagates_through_a_pykka_asker(with_pykka: PooledRuntime) -> None:
    asker = PykkaAsker.start()
    with pytest.raises(ValueError, match="deep"):
        asker.ask((with_pykka.spawn(Recorder), ValueError("deep")), timeout=WAIT)


# --- scheduling invariants ---------------------------------------------------------------


class EntryChecker(PooledActor):
    """Detects two workers inside the same actor: a flag set on entry, checked by the next."""

    def __init__(self) -> None:
        self.inside = False
        self.handled = 0
        self.violations = 0

    def on_receive(self, message: Any) -> Any:
        if message == "report":
            return self.handled, self.violations
        if self.inside or self.actor_ref.running_thread_id() != threading.get_ident():
            self.violations += 1
        self.inside = True
        if self.handled % 4 == 0:  # not synchronisation: drop the GIL mid-handler, so
            time.sleep(0)  # a second worker running this actor would get in here
        self.handled += 1
        self.inside = False
        return None


def test_no_actor_ever_runs_on_two_workers_at_once() -> None:
    actors, messages = 10_000, 10
    runtime = PooledRuntime(ThreadPoolScheduler(workers=2), batch_size=4).start()
    refs = [runtime.spawn(EntryChecker) for _ in range(actors)]

    def send(part: list[PooledActorRef[EntryChecker]]) -> None:
        for ref in part:  # bursts per actor: its mailbox is ready while workers are busy in it
            for _ in range(messages):
                ref.tell("poke")

    senders = [threading.Thread(target=send, args=(refs[i::2],)) for i in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)
    reports = pykka.get_all([ref.ask("report", block=False) for ref in refs], timeout=30)
    runtime.stop(timeout=WAIT)
    assert sum(handled for handled, _ in reports) == actors * messages
    assert [violations for _, violations in reports if violations] == []


def test_batch_bound_lets_other_actors_run(manual: ManualScheduler) -> None:
    log: list[Any] = []
    runtime = PooledRuntime(manual, batch_size=3).start()
    busy = runtime.spawn(Recorder, log)
    other = runtime.spawn(Recorder, log)
    manual.run_until_idle()
    for i in range(7):
        busy.tell(("busy", i))
    other.tell(("other", 0))
    manual.run_until_idle()
    handled = [entry[0] for entry in log[2:]]
    assert handled == ["busy"] * 3 + ["other"] + ["busy"] * 4
    runtime.stop()


def test_confinement_hook_names_the_running_thread(pooled: PooledRuntime) -> None:
    class Guarded:
        """Stands in for a RawNode: refuses calls from any thread not running its owner."""

        def __init__(self) -> None:
            self.owner: PooledActorRef[Any] | None = None

        def tick(self) -> str:
            assert self.owner is not None
            if self.owner.running_thread_id() != threading.get_ident():
                raise AssertionError("touched outside its replica")
            return "ticked"

    class Owner(PooledActor):
        def __init__(self, node: Guarded) -> None:
            self.node = node
            node.owner = self.actor_ref

        def on_receive(self, message: Any) -> Any:
            return self.node.tick(), threading.current_thread().name

    node = Guarded()
    ref = pooled.spawn(Owner, node)
    result, thread_name = ref.ask("tick", timeout=WAIT)
    assert result == "ticked"
    assert thread_name.startswith("pooled-actors-")
    assert ref.running_thread_id() is None  # idle: nobody runs it
    with pytest.raises(AssertionError, match="outside its replica"):
        node.tick()


# --- manual scheduler ----------------------------------------------------------------------


class PingPong(PooledActor):
    """Bounces a counter to a peer, appending (name, n) to a shared trace."""

    def __init__(self, name: str, trace: list[tuple[str, int]]) -> None:
        self.name = name
        self.trace = trace
        self.peer: PooledActorRef[PingPong] | None = None

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, PooledActorRef):
            self.peer = message
            return None
        self.trace.append((self.name, message))
        if message > 0 and self.peer is not None:
            self.peer.tell(message - 1)
        return None


def run_ping_pong(rng: random.Random | None) -> list[tuple[str, int]]:
    trace: list[tuple[str, int]] = []
    scheduler = ManualScheduler(rng)
    runtime = PooledRuntime(scheduler, batch_size=2).start()
    pairs = [(runtime.spawn(PingPong, f"a{i}", trace), runtime.spawn(PingPong, f"b{i}", trace)) for i in range(5)]
    for a, b in pairs:
        a.tell(b)
        b.tell(a)
        a.tell(6)
    scheduler.run_until_idle()
    runtime.stop()
    return trace


def test_manual_scheduler_runs_nothing_until_stepped(stepped: PooledRuntime, manual: ManualScheduler) -> None:
    log: list[Any] = []
    ref = stepped.spawn(Recorder, log)
    ref.tell("x")
    assert log == []
    assert manual.pending == 1
    assert manual.run_one() is True
    assert log == ["start", "x"]
    assert manual.run_one() is False
    assert manual.run_until_idle() == 0


def test_manual_scheduler_is_deterministic() -> None:
    fifo = run_ping_pong(None)
    assert fifo == run_ping_pong(None)
    assert len(fifo) == 5 * 7
    seeded = run_ping_pong(random.Random(7))
    assert seeded == run_ping_pong(random.Random(7))
    assert sorted(seeded) == sorted(fifo)
    assert any(run_ping_pong(random.Random(seed)) != fifo for seed in range(5))


def test_run_until_idle_stops_a_livelock() -> None:
    class Forever(PooledActor):
        def on_receive(self, message: Any) -> None:
            self.actor_ref.tell(message)

    scheduler = ManualScheduler()
    runtime = PooledRuntime(scheduler).start()
    runtime.spawn(Forever).tell("again")
    with pytest.raises(RuntimeError, match="still busy"):
        scheduler.run_until_idle(max_steps=100)
    runtime.stop()


# --- runtime lifecycle ----------------------------------------------------------------------


def test_stop_runs_every_on_stop_and_joins_every_worker() -> None:
    before = set(threading.enumerate())
    runtime = PooledRuntime(ThreadPoolScheduler(workers=2)).start()
    assert len(set(threading.enumerate()) - before) == 2
    log: list[Any] = []
    refs = [runtime.spawn(Recorder, log) for _ in range(1_000)]
    for ref in refs:
        ref.tell("work")
    runtime.stop(timeout=WAIT)
    assert log.count("stop") == 1_000
    assert log.count("work") == 1_000
    assert not any(ref.is_alive() for ref in refs)
    assert set(threading.enumerate()) == before
    assert runtime.actor_count == 0
    runtime.stop()  # idempotent
    with pytest.raises(RuntimeError):
        runtime.spawn(Recorder)


def test_stop_times_out_on_a_stuck_handler_and_workers_exit_once_it_returns() -> None:
    release = threading.Event()
    entered = threading.Event()

    class Stuck(PooledActor):
        def on_receive(self, message: Any) -> None:
            entered.set()
            release.wait(WAIT)

    before = set(threading.enumerate())
    runtime = PooledRuntime(ThreadPoolScheduler(workers=1)).start()
    runtime.spawn(Stuck).tell("block")
    assert entered.wait(WAIT)
    with pytest.raises(pykka.Timeout):
        runtime.stop(timeout=0.05)
    release.set()
    for thread in set(threading.enumerate()) - before:
        thread.join(WAIT)
    assert set(threading.enumerate()) == before


def test_runtime_as_context_manager_and_spawn_before_start() -> None:
    runtime = PooledRuntime(ThreadPoolScheduler())
    ref = runtime.spawn(Recorder)
    ref.tell("queued before start")
    with runtime:
        assert ref.ask("after", timeout=WAIT) == ("handled", "after")
    assert not ref.is_alive()
    with pytest.raises(RuntimeError):
        runtime.start()


def test_a_worker_cannot_stop_its_own_runtime(pooled: PooledRuntime) -> None:
    class Stopper(PooledActor):
        def __init__(self, runtime: PooledRuntime) -> None:
            self.runtime = runtime

        def on_receive(self, message: Any) -> None:
            self.runtime.stop()

    with pytest.raises(RuntimeError, match="join itself"):
        pooled.spawn(Stopper, pooled).ask("stop", timeout=WAIT)


# --- property: any seeded interleaving keeps the mailbox contract ------------------------------

operations = st.lists(
    st.tuples(st.sampled_from(["tell", "ask", "stop", "step"]), st.integers(0, 2)), max_size=60
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, seed=st.integers(0, 2**32 - 1), batch_size=st.integers(1, 4))
def test_any_interleaving_keeps_order_answers_every_ask_and_stops_once(
    ops: list[tuple[str, int]], seed: int, batch_size: int
) -> None:
    scheduler = ManualScheduler(random.Random(seed))
    runtime = PooledRuntime(scheduler, batch_size=batch_size).start()
    logs: list[list[Any]] = [[], [], []]
    refs = [runtime.spawn(Recorder, log) for log in logs]
    expected: list[list[Any]] = [["start"], ["start"], ["start"]]
    stop_sent = [False, False, False]
    asks: list[tuple[pykka.Future[Any], bool]] = []
    for number, (op, index) in enumerate(ops):
        ref = refs[index]
        if op == "step":
            scheduler.run_one()
        elif op == "stop":
            ref.stop(block=False)
            stop_sent[index] = True
        elif not ref.is_alive():
            if op == "tell":
                with pytest.raises(pykka.ActorDeadError):
                    ref.tell(number)
            else:
                asks.append((ref.ask(number, block=False), False))
        else:
            if not stop_sent[index]:
                expected[index].append(number)
            if op == "tell":
                ref.tell(number)
            else:
                asks.append((ref.ask(number, block=False), not stop_sent[index]))
    scheduler.run_until_idle()
    for future, answered in asks:
        if answered:
            assert future.get(timeout=0)[0] == "handled"
        else:
            with pytest.raises(pykka.ActorDeadError):
                future.get(timeout=0)
    runtime.stop()
    for log, want in zip(logs, expected, strict=True):
        assert log == [*want, "stop"]


def test_stopping_a_runtime_that_never_started_still_runs_the_hooks() -> None:
    before = set(threading.enumerate())
    runtime = PooledRuntime(ThreadPoolScheduler(workers=2))
    log: list[Any] = []
    runtime.spawn(Recorder, log).tell("queued")
    runtime.stop(timeout=WAIT)
    assert log == ["start", "queued", "stop"]
    assert set(threading.enumerate()) == before


def test_tell_coalesced_queues_a_signal_once_until_handled() -> None:
    """A signal told many times while queued is handled once; told again after being
    handled, it is delivered again (nothing lost)."""
    from multiraft.actors.runtime import ManualScheduler, PooledActor, PooledRuntime

    tick = object()
    seen: list[object] = []

    class Ticked(PooledActor):
        def on_receive(self, message: object) -> None:
            seen.append(message)

    sched = ManualScheduler()
    with PooledRuntime(sched) as rt:
        ref = rt.spawn(Ticked)
        sched.run_until_idle()
        for _ in range(5):
            ref.tell_coalesced(tick)
        ref.tell("other")
        ref.tell_coalesced(tick)
        sched.run_until_idle()
        assert seen == [tick, "other"]
        ref.tell_coalesced(tick)
        sched.run_until_idle()
        assert seen == [tick, "other", tick]
        sched.run_until_idle()


# --- on_batch_end ------------------------------------------------------------------------


class BatchEnder(Recorder):
    """Marks the end of every turn in the log; raises at the end of a turn that saw "boom"."""

    def on_batch_end(self) -> None:
        self.log.append("|")
        if "boom" in self.log:
            raise RuntimeError("boom at the end of the turn")


def test_on_batch_end_runs_once_after_each_turn_of_at_most_batch_size_messages(
    manual: ManualScheduler,
) -> None:
    runtime = PooledRuntime(manual, batch_size=3).start()
    try:
        log: list[Any] = []
        ref = runtime.spawn(BatchEnder, log)
        for i in range(7):
            ref.tell(i)
        manual.run_until_idle()
        assert log == ["start", 0, 1, 2, "|", 3, 4, 5, "|", 6, "|"]
    finally:
        runtime.stop(timeout=10)


def test_an_exception_in_on_batch_end_fails_the_actor_like_a_told_message(
    stepped: PooledRuntime, manual: ManualScheduler
) -> None:
    log: list[Any] = []
    ref = stepped.spawn(BatchEnder, log)
    ref.tell("boom")
    later = ref.ask("later", block=False)
    manual.run_until_idle()
    assert log[:4] == ["start", "boom", "later", "|"]
    assert log[4] == ("failure", RuntimeError)
    assert later.get(timeout=0) == ("handled", "later")  # (answered in the turn, before the end)
    assert not ref.is_alive()
