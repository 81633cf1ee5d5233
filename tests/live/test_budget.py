"""The hard budget cap holds under any concurrency: randomized runs of the recorder's own
attempt-and-retry loop (:meth:`_Run.call`) with random prices, token counts, statuses and
interleavings never spend more than the cap, and never start an attempt that could."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simkit.fleet.prices import ModelPrice
from simkit.live.budget import Budget, nano_usd
from simkit.live.endpoints import Endpoint
from simkit.live.record import _Attempt, _Run


class ScriptedCaller:
    """Stands in for the HTTP side only: each attempt returns the next scripted outcome after
    the scripted number of event-loop turns; token counts stay within what was reserved."""

    def __init__(self, endpoint: Endpoint, script, budget: Budget, cap: float, log: list) -> None:
        self.endpoint = endpoint
        self.script = iter(script)
        self.budget = budget
        self.cap = cap
        self.log = log

    async def attempt(self, messages, max_tokens, tpm_charge):
        status, prompt_frac, out_frac, turns = next(self.script, ("ok", 1.0, 1.0, 0))
        # the reservation for this attempt is already held: spend + reservations <= cap
        assert self.budget._spent + self.budget._reserved <= self.budget._cap
        for _ in range(turns):
            await asyncio.sleep(0)
        local = messages[0]["local"]
        reserved_prompt = self.endpoint.reserved_prompt_tokens(local)
        a = _Attempt(status=status)
        if status == "ok":
            a.usage_reported = True
            a.prompt_tokens = int(prompt_frac * reserved_prompt)
            a.completion_tokens = int(out_frac * max_tokens)
            a.text = "x"
        elif status == "rate_limited":
            a.retry_after_s = 0.0
        self.log.append(a)
        return a


job = st.tuples(
    st.integers(0, 4000),  # local prompt tokens
    st.lists(
        st.tuples(
            st.sampled_from(["ok", "ok", "rate_limited", "error"]),
            st.floats(0, 1),
            st.floats(0, 1),
            st.integers(0, 6),
        ),
        min_size=1,
        max_size=4,
    ),
)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, derandomize=True)
@given(
    cap=st.floats(0, 0.05),
    spent=st.floats(0, 0.01),
    price_in=st.floats(0, 30),
    price_out=st.floats(0, 60),
    max_out=st.integers(1, 4096),
    retries=st.integers(0, 3),
    concurrency=st.integers(1, 64),
    jobs=st.lists(job, min_size=1, max_size=30),
)
def test_spend_never_exceeds_the_cap(
    cap, spent, price_in, price_out, max_out, retries, concurrency, jobs
):
    spent = min(spent, cap)
    ep = Endpoint(
        name="m",
        base_url="http://127.0.0.1:1/v1",
        model="m",
        price=ModelPrice(price_in, price_out),
        max_output_tokens=max_out,
        max_retries=retries,
        max_concurrency=concurrency,
    )
    budget = Budget(cap, spent_usd=spent)
    log: list = []

    async def main():
        run = _Run(
            budget=budget,
            callers={},
            judge=None,
            judge_caller=None,
            keep_text=False,
            writer=None,
            on_record=lambda r: None,
            backoff_s=0.0,
        )
        slots = asyncio.Semaphore(concurrency)

        async def one(local, script):
            caller = ScriptedCaller(ep, script, budget, cap, log)
            async with slots:
                return await run.call(caller, [{"local": local}], local, max_out)

        return await asyncio.gather(*(one(local, script) for local, script in jobs))

    results = asyncio.run(main())
    assert budget._spent <= budget._cap  # exact, in nano-dollars
    assert budget.spent_usd <= cap + 1e-12
    assert budget.in_flight == 0 and budget.reserved_usd == 0
    assert not budget.overspent()
    # a job refused outright could not fit then, so (spend only grows) cannot fit now
    for (local, _), (attempt, cost, *_rest) in zip(jobs, results, strict=True):
        assert cost <= cap + 1e-12
        if attempt is None:
            assert run_would_not_fit(budget, ep, local, max_out)


def run_would_not_fit(budget: Budget, ep: Endpoint, local: int, max_out: int) -> bool:
    return budget._spent + nano_usd(ep.worst_case_usd(local, max_out)) > budget._cap


def test_reservations_are_exact_integers_rounded_up():
    b = Budget(0.3)
    assert nano_usd(0.1) == 100_000_000
    held = [b.try_reserve(0.1) for _ in range(4)]
    assert held[:3] == [100_000_000] * 3 and held[3] is None  # 0.1 * 3 == 0.3 exactly
    b.settle(held[0], 0.05)
    assert b.left_usd == pytest.approx(0.05)
    assert b.try_reserve(0.05) is not None and b.try_reserve(1e-9) is None


def test_a_waiting_reservation_proceeds_when_an_attempt_settles():
    async def main():
        b = Budget(1.0)
        first = b.try_reserve(0.8)
        waiter = asyncio.ensure_future(b.reserve(0.5))
        await asyncio.sleep(0)
        assert not waiter.done()
        b.settle(first, 0.3)
        return await waiter, b

    held, b = asyncio.run(main())
    assert held == 500_000_000 and b.spent_usd == pytest.approx(0.3)


def test_reserve_gives_up_when_nothing_in_flight_can_free_room():
    async def main():
        b = Budget(1.0, spent_usd=0.7)
        return await b.reserve(0.5)

    assert asyncio.run(main()) is None
