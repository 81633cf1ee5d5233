"""Token buckets, 429s, retry-after and backoff through the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.helpers import fixed_api, one_tier, tiny_trace
from simkit.fleet import RateLimit, RetryPolicy
from simkit.fleet.ratelimit import RateLimiter, TokenBucket
from simkit.policies import StaticPolicy
from simkit.seeding import named_stream
from simkit.sim import simulate


def test_bucket_under_saturating_demand_admits_exactly_capacity_plus_refill():
    """A client asking every 1/64 s for an hour gets floor(capacity + rate * T) admissions."""
    bucket = TokenBucket(rate_per_s=600 / 60, capacity=600)  # 600 RPM, one minute of burst
    admitted = 0
    t = 0.0
    for k in range(64 * 3600 + 1):
        t = k / 64
        if bucket.wait_s(t, 1.0) == 0.0:
            bucket.take(t, 1.0)
            admitted += 1
    assert admitted == math.floor(600 + 10 * t)


def test_engine_admits_exactly_the_configured_rpm_over_a_long_window():
    """No retries, 16 arrivals/s against 480 RPM (8/s, burst 60 s): completed requests =
    floor(480 + 8 * last_arrival); every other request fails as rate_limited with one 429."""
    n = 8000
    arrival = np.arange(n) / 16
    api = fixed_api(rate_limit=RateLimit(rpm=480), retry=RetryPolicy(max_retries=0))
    rec = simulate(tiny_trace(arrival), one_tier(api), StaticPolicy("t"), seed=0).requests
    done = rec["status"] == "completed"
    assert int(done.sum()) == math.floor(480 + 8 * arrival[-1])
    failed = rec[~done]
    assert set(failed["fail_reason"]) == {"rate_limited"}
    assert (failed["n_429"] == 1).all() and (rec.loc[done, "n_429"] == 0).all()


def test_engine_admits_exactly_the_configured_tpm_with_max_tokens_charged_and_refunded():
    """OpenAI-style TPM: each request is charged prompt + max_tokens = 100 at admission and
    refunded to prompt + output = 40 at completion; over 30 minutes at 12,000 TPM (200/s) the
    tokens admitted net of refunds match floor(capacity + rate * T) in requests of 40 tokens
    once refunds keep pace."""
    n = 36_000
    arrival = np.arange(n) / 20  # 20 requests/s = 2,000 tokens/s asked at admission
    api = fixed_api(
        ttft_s=0.1, speed=1e9, rate_limit=RateLimit(tpm=12_000), retry=RetryPolicy(max_retries=0)
    )
    trace = tiny_trace(arrival, prompt_tokens=20, output_tokens=20, max_tokens=80)
    rec = simulate(trace, one_tier(api), StaticPolicy("t"), seed=0).requests
    done = int((rec["status"] == "completed").sum())
    # Every admission takes 100 and gives 60 back 0.1 s later: the bucket refills 200/s plus
    # refunds; in steady state the admitted rate is 200 / 40 = 5/s of net 40-token requests.
    limiter = RateLimiter(RateLimit(tpm=12_000))
    expect = 0
    pending: list[tuple[float, object]] = []
    for t in arrival:
        while pending and pending[0][0] <= t:
            limiter.complete(pending[0][0], pending.pop(0)[1], 20, 20)
        adm, _ = limiter.try_admit(t, 20, 80)
        if adm is not None:
            expect += 1
            pending.append((t + 0.1, adm))
    assert done == expect
    assert abs(done - (12_000 + 200 * arrival[-1]) / 40) <= 100 / 40 + 1  # within one charge


def test_a_429_is_retried_exactly_after_retry_after():
    """1 RPM-second bucket (capacity 1, 1/s): the second request at t=0 gets a 429 with
    retry-after 1 s and succeeds on its retry at rtt + 1 s."""
    api = fixed_api(
        ttft_s=0.2,
        speed=10.0,
        rtt_s=0.05,
        rate_limit=RateLimit(rpm=60, burst_s=1.0),
        retry=RetryPolicy(max_retries=2),
    )
    rec = simulate(
        tiny_trace([0.0, 0.0], output_tokens=3), one_tier(api), StaticPolicy("t"), seed=0
    ).requests
    timeline = rec[["request_id", "first_token_s", "end_s", "retries", "n_429"]].itertuples(
        index=False, name=None
    )
    ttft = 0.05 + 0.2
    e2e = ttft + 2 / 10.0
    assert list(timeline) == [
        ("r0", pytest.approx(ttft), pytest.approx(e2e), 0, 0),
        ("r1", pytest.approx(0.05 + 1.0 + ttft), pytest.approx(0.05 + 1.0 + e2e), 1, 1),
    ]


def test_without_retry_after_the_client_backs_off_exponentially_with_jitter():
    """honour_retry_after=False: retry k waits min(cap, base * 2**k) * U(0.5, 1), with U from
    the tier's own stream; the bucket (1/s, capacity 1) admits once a full second has passed."""
    retry = RetryPolicy(
        max_retries=5, backoff_base_s=0.25, backoff_cap_s=8.0, honour_retry_after=False
    )
    api = fixed_api(ttft_s=0.2, speed=10.0, rate_limit=RateLimit(rpm=60, burst_s=1.0), retry=retry)
    rec = simulate(
        tiny_trace([0.0, 0.0], output_tokens=1), one_tier(api), StaticPolicy("t"), seed=0
    ).requests
    u = named_stream(0, "tier:t").random(8)  # the draws the tier uses, in order
    t, k = 0.0, 0
    while t < 1.0:  # rejected: back off
        t += min(8.0, 0.25 * 2**k) * (0.5 + 0.5 * u[k])
        k += 1
    second = rec.iloc[1]
    assert (second["n_429"], second["retries"]) == (k, k)
    assert second["first_token_s"] == pytest.approx(t + 0.2)


def test_retries_exhausted_fail_the_request_with_rate_limited():
    api = fixed_api(
        rate_limit=RateLimit(rpm=60, burst_s=1.0),
        retry=RetryPolicy(max_retries=1, honour_retry_after=False, backoff_base_s=0.01),
    )
    rec = simulate(tiny_trace([0.0, 0.0]), one_tier(api), StaticPolicy("t"), seed=0).requests
    assert list(rec["status"]) == ["completed", "failed"]
    assert list(rec["fail_reason"]) == ["", "rate_limited"]
    assert list(rec["n_429"]) == [0, 2]
    assert np.isnan(rec["quality"].iloc[1])


def test_anthropic_style_limits_charge_input_and_output_separately():
    """Input bucket 600/min and output bucket 60/min (capacity 600 and 60 over 60 s): with
    max_tokens 30 the output bucket admits two requests at t=0, the input bucket would admit 6."""
    lim = RateLimiter(RateLimit(style="anthropic", input_tpm=600, output_tpm=60))
    results = [lim.try_admit(0.0, 100, 30) for _ in range(3)]
    assert [adm is not None for adm, _ in results] == [True, True, False]
    assert results[2][1] == pytest.approx(30 / 1.0)  # 30 output tokens at 1 token/s
    lim.complete(0.0, results[0][0], 100, 10)  # refund 20 unused output tokens
    assert lim.output.level == pytest.approx(20.0)
    assert lim.input.level == pytest.approx(400.0)


def test_a_request_larger_than_the_bucket_fails_as_too_large_without_retrying():
    api = fixed_api(rate_limit=RateLimit(tpm=60), retry=RetryPolicy(max_retries=5))
    rec = simulate(
        tiny_trace([0.0], prompt_tokens=50, max_tokens=50), one_tier(api), StaticPolicy("t"), seed=0
    ).requests
    assert (rec["status"].iloc[0], rec["fail_reason"].iloc[0], rec["retries"].iloc[0]) == (
        "failed",
        "too_large",
        0,
    )


def _reference_admit(requests, tokens, now, amount):
    """OpenAI-style admission through TokenBucket's own methods: (admitted, retry-after)."""
    wait = max(
        requests.wait_s(now, 1.0) if requests is not None else 0.0,
        tokens.wait_s(now, amount) if tokens is not None else 0.0,
    )
    if wait > 0.0:
        if requests is not None and requests.level >= 1.0:
            requests.level -= 1.0
        return False, wait
    if requests is not None:
        requests.take(now, 1.0)
    if tokens is not None:
        tokens.take(now, amount)
    return True, 0.0


@pytest.mark.parametrize(
    "limit",
    [RateLimit(rpm=30, tpm=20_000), RateLimit(rpm=45), RateLimit(tpm=9_000), RateLimit(rpm=0.5)],
)
def test_the_openai_hot_path_admits_and_refunds_as_the_buckets_own_methods(limit):
    """RateLimiter writes TokenBucket.refill out on its hot path: the same decisions, waits and
    bucket levels, bit for bit, over 3,000 random admissions and completions."""
    lim = RateLimiter(limit)
    b = limit.buckets()
    ref_r = TokenBucket(*b["requests"]) if "requests" in b else None
    ref_t = TokenBucket(*b["tokens"]) if "tokens" in b else None
    rng = np.random.default_rng(9)
    now, running, admitted = 3.5, [], 0
    for _ in range(3000):
        now += float(rng.exponential(0.8))
        while running and running[0][0] <= now:
            end, adm, p, out = running.pop(0)
            lim.complete(end, adm, p, out)
            if ref_t is not None and p + out < adm.tokens_charged:
                ref_t.give(end, adm.tokens_charged - (p + out))
        p, m = int(rng.integers(1, 3000)), int(rng.integers(1, 2000))
        adm, wait = lim.try_admit(now, p, m)
        ok, ref_wait = _reference_admit(ref_r, ref_t, now, p + m)
        assert (adm is not None, wait) == (ok, ref_wait)
        for mine, ref in ((lim.requests, ref_r), (lim.tokens, ref_t)):
            assert (mine is None) == (ref is None)
            if mine is not None:
                assert (mine.level, mine.t_s) == (ref.level, ref.t_s)
        if adm is not None:
            admitted += 1
            running.append((now + float(rng.exponential(5.0)), adm, p, int(rng.integers(1, m + 1))))
            running.sort(key=lambda x: x[0])
    if limit.rpm == 0.5:  # a bucket of half a request never admits one (retry-after inf)
        assert admitted == 0 and wait == math.inf
    else:
        assert 200 < admitted < 2900  # the limits bound some and not all
