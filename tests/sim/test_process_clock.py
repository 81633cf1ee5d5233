"""ProcessClock (simkit.sim.process_clock) against SimPy itself: the same generator programs,
run on both, resume in the same order at the same times and schedule as many events.

The programs are random but reproducible: processes that wait for timeouts of a few round
delays (so many fall at the same time), interrupt each other while waiting, and sleep on
events that others trigger, as a replica's loop does (simkit.sim.batching)."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from simkit.sim.process_clock import ProcessClock

_INF = float("inf")


def _program(env, n_procs: int, steps: int, seed: int):
    """Start ``n_procs`` processes on ``env``; return the log they write as they run."""
    log: list[tuple[float, int, str]] = []
    procs: dict[int, object] = {}
    state = {pid: None for pid in range(n_procs)}  # 'timeout', 'event' or None (running)
    asked = set()  # processes with an interrupt on the way
    sleepers: dict[int, object] = {}

    def body(pid: int):
        rng = np.random.default_rng([seed, pid])
        for step in range(steps):
            # wake one sleeper, or interrupt one process waiting for a timeout
            act = rng.integers(0, 4)
            if act == 0 and sleepers:
                other = min(sleepers)
                ev = sleepers.pop(other)
                log.append((env.now, pid, f"wakes {other}"))
                ev.succeed()
            elif act == 1:
                waiting = sorted(p for p, s in state.items() if s == "timeout" and p not in asked)
                if waiting:
                    other = waiting[int(rng.integers(0, len(waiting)))]
                    asked.add(other)
                    log.append((env.now, pid, f"interrupts {other}"))
                    procs[other].interrupt()
            if rng.random() < 0.15 and len(sleepers) < n_procs - 1:
                ev = env.event()
                sleepers[pid] = ev
                state[pid] = "event"
                yield ev
                state[pid] = None
                log.append((env.now, pid, f"woken at step {step}"))
                continue
            delay = float(rng.choice([0.0, 0.25, 0.5, 1.0]))
            state[pid] = "timeout"
            try:
                yield env.timeout(delay)
                log.append((env.now, pid, f"step {step}"))
            except simpy.Interrupt:
                asked.discard(pid)
                state[pid] = None  # not interrupted again while it finishes
                log.append((env.now, pid, f"interrupted at step {step}"))
                if rng.random() < 0.5:  # finish something first, as a replica finishes a step
                    yield env.timeout(0.125)
                    log.append((env.now, pid, "after interrupt"))
            state[pid] = None
        while True:  # a replica's loop never ends: it waits for work
            state[pid] = "event"
            yield env.event()

    for pid in range(n_procs):
        procs[pid] = env.process(body(pid))
    return log


@pytest.mark.parametrize("seed", range(12))
def test_processes_resume_as_in_simpy(seed):
    n_procs = 2 + seed % 4
    ref = simpy.Environment(initial_time=0.0)
    want = _program(ref, n_procs, steps=40, seed=seed)
    ref.run()
    clock = ProcessClock()
    got = _program(clock, n_procs, steps=40, seed=seed)
    clock.run_until((_INF, 0, 0))
    assert got == want
    assert clock.scheduled == next(ref._eid)  # every event SimPy scheduled, stale ones too
    assert clock.now == ref.now
    kinds = {entry[2].split(" ")[0] for entry in want}
    assert {"interrupts", "interrupted", "wakes", "woken", "after", "step"} <= kinds


def test_run_until_stops_before_the_key_in_simpys_order():
    """An event at the key's time runs before it when its priority is higher or it was
    scheduled first; the clock is left at the last event run. A process that returns ends
    with one more event, as in SimPy, and the others go on."""
    log = []

    def body(env):
        yield env.timeout(2.0)
        log.append(env.now)
        yield env.timeout(1.0)
        log.append(env.now)

    def longer(env):
        yield env.timeout(5.0)
        log.append(env.now)

    clock = ProcessClock()
    clock.process(body(clock))  # its start takes scheduling number 0, its first timeout 2
    clock.process(longer(clock))
    clock.run_until((2.0, 1, 2))  # the starts run; the timeout at 2.0 is not before the key
    assert log == [] and clock.now == 0.0
    clock.run_until((2.0, 1, 3))  # scheduled before the key's event: it runs
    assert log == [2.0] and clock.now == 2.0
    clock.run_until((_INF, 0, 0))
    assert log == [2.0, 3.0, 5.0]
    with pytest.raises(RuntimeError):  # no process is running any more
        clock.timeout(1.0)
    ref = simpy.Environment()
    ref.process(body(ref))
    ref.process(longer(ref))
    ref.run()
    # two starts, three timeouts and two ends, which SimPy schedules as events too
    assert clock.scheduled == next(ref._eid) == 7 and clock.now == ref.now == 5.0
    assert log == [2.0, 3.0, 5.0] * 2


def test_what_a_replica_never_does_is_refused_with_a_reason():
    clock = ProcessClock()
    with pytest.raises(RuntimeError) as outside:
        clock.timeout(1.0)
    assert str(outside.value) == "ProcessClock: a timeout outside a process"
    with pytest.raises(RuntimeError) as early:
        clock.event().succeed()
    assert str(early.value) == "ProcessClock: an event succeeded before a process waited for it"

    def sleeper():
        yield clock.event()

    proc = clock.process(sleeper())
    clock.run_until((_INF, 0, 0))
    with pytest.raises(RuntimeError):  # the sleeper yielded; nothing runs now
        clock.timeout(1.0)
    proc.interrupt()
    with pytest.raises(RuntimeError) as waiting:
        clock.run_until((_INF, 0, 0))
    assert str(waiting.value) == "ProcessClock: an interrupt while waiting for an event"
