"""Endpoint and fleet specifications: frozen, validated data (no SimPy here).

A :class:`Fleet` is an ordered tuple of :class:`Tier` s, **cheapest first** (the order policies
see in ``FleetView.tiers``). A tier serves requests through one endpoint, either a hosted
:class:`ApiEndpoint` or a self-hosted :class:`GpuServer`, and names the model whose recorded
outcomes stand for its answer quality (``quality_model``).

Units are in the names: ``_s`` seconds, ``_usd`` US dollars, ``_per_mtok`` per million tokens.
The models behind the numbers are in ``shared/reference/SERVING.md`` §3 (GPU) and §4 (APIs).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from simkit.errors import SpecError
from simkit.fleet.prices import ModelPrice

__all__ = [
    "LOAD_BALANCERS",
    "OVER_CONTEXT",
    "ApiEndpoint",
    "Fleet",
    "GpuServer",
    "Jitter",
    "RateLimit",
    "RetryPolicy",
    "Tier",
]


#: How a GPU tier spreads requests over its replicas (:class:`GpuServer`), default first.
LOAD_BALANCERS = (
    "least_outstanding",
    "round_robin",
    "shortest_queue",
    "shared_queue",
    "prefix_affinity",
)

#: What a tier does with a request over its context window (:class:`Tier`).
OVER_CONTEXT = ("serve", "fail", "truncate")


def _check(cond: bool, key: str, problem: str, source: str | None = None) -> None:
    if not cond:
        raise SpecError(source or "<fleet spec>", key=key, problem=problem)


def _finite(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.floating)) and math.isfinite(v)


@dataclass(frozen=True)
class Jitter:
    """A positive quantity with lognormal per-request jitter around its median.

    ``value = median * exp(sigma * Z)``, Z standard normal; ``sigma = 0`` is a constant.
    AA-style medians are the natural ``median``; ``sigma`` about 0.2–0.5 gives the spread seen
    across requests (SERVING.md §4.4).
    """

    median: float
    sigma: float = 0.0

    def __post_init__(self) -> None:
        _check(
            _finite(self.median) and self.median >= 0,
            "median",
            f"must be >= 0, got {self.median!r}",
        )
        _check(
            _finite(self.sigma) and self.sigma >= 0, "sigma", f"must be >= 0, got {self.sigma!r}"
        )

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        """Draw ``size`` values (one float if ``size`` is None)."""
        if self.sigma == 0:
            return self.median if size is None else np.full(size, float(self.median))
        return self.median * np.exp(self.sigma * rng.standard_normal(size))


@dataclass(frozen=True)
class RateLimit:
    """Token-bucket rate limits of one hosted model (SERVING.md §4.1–4.3).

    Parameters
    ----------
    style : {'openai', 'anthropic'}
        ``'openai'``: one token bucket (``tpm``) charged ``prompt + max_tokens`` at admission and
        refunded to the actual count at completion; a rejected attempt still uses one request
        of ``rpm``. ``'anthropic'``: separate input (``input_tpm``, charged the prompt) and
        output (``output_tpm``, charged ``max_tokens``, refunded at completion) buckets.
    rpm, tpm, input_tpm, output_tpm : float, optional
        Limits per minute; ``None`` = unlimited. Refill rate = limit / 60 s.
    burst_s : float
        Bucket capacity in seconds of refill: 60 (a full minute's allowance; the default) or
        1 (a limit enforced per second, as providers may do).
    """

    style: Literal["openai", "anthropic"] = "openai"
    rpm: float | None = None
    tpm: float | None = None
    input_tpm: float | None = None
    output_tpm: float | None = None
    burst_s: float = 60.0

    def __post_init__(self) -> None:
        _check(
            self.style in ("openai", "anthropic"),
            "style",
            f"unknown style {self.style!r}; valid styles: anthropic, openai",
        )
        for name in ("rpm", "tpm", "input_tpm", "output_tpm"):
            v = getattr(self, name)
            _check(
                v is None or (_finite(v) and v > 0), name, f"must be > 0 (or omitted), got {v!r}"
            )
        if self.style == "openai":
            _check(
                self.input_tpm is None and self.output_tpm is None,
                "input_tpm",
                "openai-style limits use one combined 'tpm'; input_tpm/output_tpm are anthropic-style",
            )
        else:
            _check(
                self.tpm is None,
                "tpm",
                "anthropic-style limits use 'input_tpm' and 'output_tpm', not a combined 'tpm'",
            )
        _check(
            _finite(self.burst_s) and self.burst_s > 0,
            "burst_s",
            f"must be > 0, got {self.burst_s!r}",
        )

    def buckets(self) -> dict[str, tuple[float, float]]:
        """Bucket name -> (refill per second, capacity), for the limits that are set."""
        limits = {
            "requests": self.rpm,
            "tokens": self.tpm,
            "input": self.input_tpm,
            "output": self.output_tpm,
        }
        return {k: (v / 60.0, v * self.burst_s / 60.0) for k, v in limits.items() if v is not None}


@dataclass(frozen=True)
class RetryPolicy:
    """Client retries after a 429, an error or a timeout (SERVING.md §4.3).

    Waits ``retry_after`` when the 429 carries one and ``honour_retry_after`` is set, else
    ``min(backoff_cap_s, backoff_base_s * 2**k) * U(0.5, 1)`` before retry ``k + 1``. After
    ``max_retries`` retries the attempt fails (the policy may then fall back to another tier).
    """

    max_retries: int = 2
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    honour_retry_after: bool = True

    def __post_init__(self) -> None:
        _check(
            isinstance(self.max_retries, int)
            and not isinstance(self.max_retries, bool)
            and self.max_retries >= 0,
            "max_retries",
            f"must be an integer >= 0, got {self.max_retries!r}",
        )
        for name in ("backoff_base_s", "backoff_cap_s"):
            v = getattr(self, name)
            _check(_finite(v) and v >= 0, name, f"must be >= 0, got {v!r}")


@dataclass(frozen=True)
class ApiEndpoint:
    """A hosted model API: per-token prices, closed-form latency, rate limits, failures.

    Latency of a successful attempt dispatched at ``t`` (SERVING.md §4.4)::

        ttft = rtt + ttft_base + prompt_tokens / prefill_tokens_per_s
        end  = ttft + (output_tokens - 1) / output_speed

    with ``rtt``, ``ttft_base`` and ``output_speed`` drawn per request from their
    :class:`Jitter`. Capacity is unlimited except for the rate limits.

    Parameters
    ----------
    model : str
        The API model name (priced through the catalog unless ``price`` is given).
    price : ModelPrice
        USD per 1M input and output tokens.
    ttft_s : Jitter
        Provider-side time to first token (queueing + prefill of a short prompt), without RTT.
    output_tokens_per_s : Jitter
        Output speed after the first token.
    rtt_s : Jitter
        Network round trip between the router and the provider (SERVING.md §4.5).
    prefill_tokens_per_s : float, optional
        Extra prefill time per prompt token; ``None`` leaves it inside ``ttft_s``.
    rate_limit : RateLimit, optional
        Token buckets; ``None`` = unlimited.
    error_rate : float
        Probability that an admitted attempt fails with a server error (returned after its
        would-be TTFT); retried like a 429 without retry-after.
    outages : tuple of (start_s, end_s)
        Windows in simulated time in which every attempt fails after one RTT.
    timeout_s : float
        Client timeout on the whole response; a slower attempt is cut at ``timeout_s`` and
        retried.
    retry : RetryPolicy
        Client retry behaviour.
    provider : str, optional
        The catalog provider the price was taken from.
    """

    model: str
    price: ModelPrice
    ttft_s: Jitter = Jitter(0.5, 0.3)
    output_tokens_per_s: Jitter = Jitter(80.0, 0.2)
    rtt_s: Jitter = Jitter(0.03, 0.0)
    prefill_tokens_per_s: float | None = None
    rate_limit: RateLimit | None = None
    error_rate: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()
    timeout_s: float = 600.0
    retry: RetryPolicy = RetryPolicy()
    provider: str | None = None

    kind = "api"

    def __post_init__(self) -> None:
        _check(isinstance(self.model, str) and bool(self.model), "model", "must be a model name")
        _check(self.output_tokens_per_s.median > 0, "output_tokens_per_s", "median must be > 0")
        p = self.prefill_tokens_per_s
        _check(
            p is None or (_finite(p) and p > 0), "prefill_tokens_per_s", f"must be > 0, got {p!r}"
        )
        _check(
            _finite(self.error_rate) and 0 <= self.error_rate < 1,
            "error_rate",
            f"must be in [0, 1), got {self.error_rate!r}",
        )
        _check(
            _finite(self.timeout_s) and self.timeout_s > 0,
            "timeout_s",
            f"must be > 0, got {self.timeout_s!r}",
        )
        outages = tuple((float(a), float(b)) for a, b in self.outages)
        for i, (a, b) in enumerate(outages):
            _check(0 <= a < b, f"outages[{i}]", f"expected 0 <= start_s < end_s, got [{a}, {b}]")
        object.__setattr__(self, "outages", tuple(sorted(outages)))

    @property
    def replicas(self) -> int:
        """An API account is one replica (capacity is the rate limit, not servers)."""
        return 1

    @property
    def usd_per_hour(self) -> float:
        """Fixed cost rate: none for a pay-per-token API."""
        return 0.0

    def in_outage(self, t_s: float) -> bool:
        """Whether simulated time ``t_s`` falls in an outage window."""
        return any(a <= t_s < b for a, b in self.outages)


@dataclass(frozen=True)
class GpuServer:
    """Self-hosted vLLM-like servers: continuous batching over ``replicas`` identical replicas.

    Each replica runs the step loop of SERVING.md §3.2 (chunked prefill under a token budget,
    at most ``max_num_seqs`` running, KV capacity with recompute preemption of the newest
    request) with the step time of §3.3::

        t_step = max(t_floor_s, n_tokens / x_sat_tokens_per_s)
                 + beta_s_per_ctx_token * sum(decode contexts) + t_ovh_s

    Pure-decode stretches are advanced in one event (decode fast-forward, §3.6). Requests are
    sent to a replica by ``load_balancer`` (default: the fewest outstanding requests, ties:
    lowest index).

    Parameters
    ----------
    model : str
        Model served (for the records; quality comes from the tier's ``quality_model``).
    usd_per_gpu_hour : float
        Rental price of one GPU; fixed cost = replicas x gpus_per_replica x this x horizon.
    replicas, gpus_per_replica : int
        Replicas (data parallel) and GPUs per replica (tensor parallel).
    max_num_seqs : int
        Running sequences per replica.
    max_batched_tokens : int
        Token budget per step (decodes + prefill chunks).
    kv_capacity_tokens : int
        KV-cache slots per replica, in tokens.
    t_floor_s, x_sat_tokens_per_s, beta_s_per_ctx_token, t_ovh_s : float
        Step-time parameters (see the presets in :mod:`simkit.fleet.presets` for sources).
    marginal_usd_per_mtok : float
        Optional per-token cost on top of the rental (power, egress), USD per 1M tokens.
    rtt_s : Jitter
        Network round trip between the router and the server.
    load_balancer : {"least_outstanding", "round_robin", "shortest_queue", "shared_queue", \
"prefix_affinity"}
        How the tier spreads requests over its replicas (:data:`LOAD_BALANCERS`):

        * ``"least_outstanding"`` (default, simkit's rule before the choice existed): the
          replica with the fewest requests waiting or running (ties: lowest index);
        * ``"round_robin"``: replicas in turn, whatever their load;
        * ``"shortest_queue"``: the replica with the fewest requests *waiting* (not yet
          admitted to its batch, as a balancer reading vLLM's ``num_requests_waiting``
          sees it; ties: lowest index), blind to what is running;
        * ``"shared_queue"``: one FIFO queue in front of all replicas; a request leaves it
          for a replica only when that replica has fewer than ``max_num_seqs`` requests
          (the replicas act as one server with ``replicas x max_num_seqs`` slots; with
          ``max_num_seqs=1`` and exponential service this is M/M/c, checked against
          Erlang-C by ``benchmarks/bench_erlang_c.py``);
        * ``"prefix_affinity"``: the replica whose prefix cache holds the longest run of the
          request's leading prefix blocks (ties: fewest outstanding, then lowest index); when
          no replica holds any, the ``"least_outstanding"`` rule. Needs ``prefix_cache``.
    prefix_cache : bool
        Keep an LRU cache of prefix blocks on each replica (vLLM's automatic prefix caching,
        :mod:`simkit.sim.prefix`): an admitted request skips the prefill of the leading
        blocks of its ``prefix_blocks`` (a trace column, :mod:`simkit.trace.prefix`) that
        the replica has cached. Default off: records are those of a fleet without caching.
    prefix_cache_tokens : int, optional
        Capacity of each replica's prefix cache in tokens (``prefix_cache_tokens //
        prefix_block_size`` blocks), at most ``kv_capacity_tokens`` (the default).
    """

    model: str
    usd_per_gpu_hour: float
    replicas: int = 1
    gpus_per_replica: int = 1
    max_num_seqs: int = 128
    max_batched_tokens: int = 2048
    kv_capacity_tokens: int = 300_000
    t_floor_s: float = 0.010
    x_sat_tokens_per_s: float = 16_000.0
    beta_s_per_ctx_token: float = 64e-9
    t_ovh_s: float = 0.001
    marginal_usd_per_mtok: float = 0.0
    rtt_s: Jitter = Jitter(0.001, 0.0)
    preset: str | None = None
    # out of repr (the simulator's config hash adds it when it is not the default)
    load_balancer: str = field(default="least_outstanding", repr=False)
    prefix_cache: bool = field(default=False, repr=False)
    prefix_cache_tokens: int | None = field(default=None, repr=False)

    kind = "gpu"

    def __post_init__(self) -> None:
        _check(isinstance(self.model, str) and bool(self.model), "model", "must be a model name")
        for name in (
            "replicas",
            "gpus_per_replica",
            "max_num_seqs",
            "max_batched_tokens",
            "kv_capacity_tokens",
        ):
            v = getattr(self, name)
            _check(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1,
                name,
                f"must be an integer >= 1 (zero capacity cannot serve anything), got {v!r}",
            )
        for name in (
            "usd_per_gpu_hour",
            "marginal_usd_per_mtok",
            "t_floor_s",
            "beta_s_per_ctx_token",
            "t_ovh_s",
        ):
            v = getattr(self, name)
            _check(_finite(v) and v >= 0, name, f"must be a finite number >= 0, got {v!r}")
        x = self.x_sat_tokens_per_s
        _check(_finite(x) and x > 0, "x_sat_tokens_per_s", f"must be > 0, got {x!r}")
        _check(
            self.load_balancer in LOAD_BALANCERS,
            "load_balancer",
            f"got {self.load_balancer!r}; expected one of {', '.join(LOAD_BALANCERS)}",
        )
        _check(
            isinstance(self.prefix_cache, (bool, np.bool_)),
            "prefix_cache",
            f"must be true or false, got {self.prefix_cache!r}",
        )
        _check(
            self.load_balancer != "prefix_affinity" or bool(self.prefix_cache),
            "load_balancer",
            "'prefix_affinity' sends a request to the replica caching its prefix, so it needs "
            "prefix_cache: true",
        )
        pct = self.prefix_cache_tokens
        _check(
            pct is None
            or (
                isinstance(pct, (int, np.integer))
                and not isinstance(pct, bool)
                and 1 <= pct <= self.kv_capacity_tokens
            ),
            "prefix_cache_tokens",
            f"must be an integer from 1 to kv_capacity_tokens ({self.kv_capacity_tokens}), "
            f"got {pct!r}",
        )

    @property
    def usd_per_hour(self) -> float:
        """Fixed cost rate of one replica (all its GPUs)."""
        return self.usd_per_gpu_hour * self.gpus_per_replica

    def step_time_s(self, n_tokens: int, sum_decode_ctx: int) -> float:
        """Duration of one iteration with ``n_tokens`` batched and the given decode context."""
        lin = n_tokens / self.x_sat_tokens_per_s
        return (
            (lin if lin > self.t_floor_s else self.t_floor_s)
            + self.beta_s_per_ctx_token * sum_decode_ctx
            + self.t_ovh_s
        )


Endpoint = ApiEndpoint | GpuServer


@dataclass(frozen=True)
class Tier:
    """One routing target: a name, the endpoint that serves it, and its quality stand-in.

    Parameters
    ----------
    name : str
        What policies return (e.g. ``'frontier'``).
    endpoint : ApiEndpoint or GpuServer
        How requests are served and priced.
    quality_model : str
        The model in the trace's outcomes whose quality stands for this tier's answers.
    private : bool, optional
        Whether data stays inside our infrastructure (privacy policies send requests tagged
        ``sensitive`` only to private tiers). Default: True for GPU servers, False for APIs.
    context_window : int, optional
        Tokens the model holds, prompt and answer together. :func:`~simkit.fleet.load_fleet`
        fills it from the GPU preset (Llama 3: 8,192) or the price catalog's
        ``context_window`` of the API model when the spec does not give it; None = unknown.
    over_context : {"serve", "fail", "truncate"}, default "serve"
        What the tier does with a request whose prompt plus answer (the tier's output length,
        already capped by ``max_tokens``) exceeds ``context_window``:

        * ``"serve"``: serve it in full (no limit enforced; simkit before context windows);
        * ``"fail"``: refuse it at once, as an API's 400 ``context_length_exceeded`` or vLLM's
          refusal of ``prompt + max_tokens > max_model_len``: the attempt fails with
          ``fail_reason='context_exceeded'``, costs nothing, is not retried (a fallback or
          cascade policy may send it elsewhere);
        * ``"truncate"``: drop the prompt's oldest tokens so that prompt plus answer fit
          (vLLM's ``truncate_prompt_tokens``; the answer is cut to ``window - 1`` tokens when
          it alone does not fit). It is served and charged at the truncated length; its
          recorded quality is unchanged (a caveat: the trace does not know the truncated
          answer). ``Records.meta["context"]`` counts the truncated requests and tokens.
    """

    name: str
    endpoint: ApiEndpoint | GpuServer
    quality_model: str
    private: bool | None = None
    # out of repr: the simulator's config hash hashes repr(tiers) and adds these itself only
    # when they are enforced, so fleets that do not use them keep their hash
    context_window: int | None = field(default=None, repr=False)
    over_context: Literal["serve", "fail", "truncate"] = field(default="serve", repr=False)

    def __post_init__(self) -> None:
        _check(
            isinstance(self.name, str) and bool(self.name) and "," not in self.name,
            "name",
            f"a tier needs a non-empty name without commas, got {self.name!r}",
        )
        _check(
            isinstance(self.quality_model, str) and bool(self.quality_model),
            "quality_model",
            "must name the model whose outcomes stand for this tier",
        )
        if self.private is None:
            object.__setattr__(self, "private", isinstance(self.endpoint, GpuServer))
        cw = self.context_window
        _check(
            cw is None or (isinstance(cw, int) and not isinstance(cw, bool) and cw >= 2),
            "context_window",
            f"expected a whole number of tokens >= 2 (or none), got {cw!r}",
        )
        _check(
            self.over_context in OVER_CONTEXT,
            "over_context",
            f"got {self.over_context!r}; expected one of {', '.join(OVER_CONTEXT)}",
        )
        _check(
            self.over_context == "serve" or cw is not None,
            "over_context",
            f"{self.over_context!r} needs a context_window; none is given and none is known "
            f"for model {self.endpoint.model!r}",
        )

    @property
    def kind(self) -> str:
        """``'api'`` or ``'gpu'``."""
        return self.endpoint.kind


@dataclass(frozen=True)
class Fleet:
    """Tiers a policy can route to, cheapest first.

    Parameters
    ----------
    tiers : tuple of Tier
        In cost order, cheapest first (the order policies see and thresholds count from).
    name : str
        A label for reports.
    source : str
        Where the spec came from (for error messages).
    """

    tiers: tuple[Tier, ...]
    name: str = "fleet"
    source: str = "<fleet spec>"
    _index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        if not tiers:
            raise SpecError(self.source, key="tiers", problem="a fleet needs at least one tier")
        names = [t.name for t in tiers]
        dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if dup is not None:
            raise SpecError(self.source, key=f"tiers.{dup}", problem="duplicate tier name")
        object.__setattr__(self, "tiers", tiers)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    @property
    def tier_names(self) -> tuple[str, ...]:
        """Tier names, cheapest first."""
        return tuple(t.name for t in self.tiers)

    def tier(self, name: str) -> Tier:
        """The tier called ``name``; the error lists the valid names."""
        i = self._index.get(name)
        if i is None:
            raise SpecError(
                self.source,
                key="tiers",
                problem=f"unknown tier {name!r}; tiers: {', '.join(self.tier_names)}",
            )
        return self.tiers[i]

    @property
    def gpu_servers(self) -> tuple[GpuServer, ...]:
        """The self-hosted endpoints (their rental is the fleet's fixed cost)."""
        return tuple(t.endpoint for t in self.tiers if isinstance(t.endpoint, GpuServer))

    @property
    def fixed_usd_per_hour(self) -> float:
        """Rental of every GPU of every replica, USD per hour (idle GPUs still cost)."""
        return float(sum(g.usd_per_hour * g.replicas for g in self.gpu_servers))

    @property
    def private_tiers(self) -> tuple[str, ...]:
        """Tiers that keep data inside our infrastructure."""
        return tuple(t.name for t in self.tiers if t.private)

    def describe(self) -> list[dict]:
        """One JSON-ready row per tier (kind, model, quality model, prices, replicas)."""
        rows = []
        for t in self.tiers:
            e = t.endpoint
            row = {
                "tier": t.name,
                "kind": t.kind,
                "model": e.model,
                "quality_model": t.quality_model,
                "private": t.private,
                "replicas": e.replicas,
            }
            if isinstance(e, ApiEndpoint):
                row.update(
                    input_usd_per_mtok=e.price.input_usd_per_mtok,
                    output_usd_per_mtok=e.price.output_usd_per_mtok,
                    price_source=f"{e.price.resolved_by}:{e.price.provider}/{e.price.catalog_id}",
                )
            else:
                row.update(
                    usd_per_gpu_hour=e.usd_per_gpu_hour,
                    gpus_per_replica=e.gpus_per_replica,
                    marginal_usd_per_mtok=e.marginal_usd_per_mtok,
                    preset=e.preset,
                )
            rows.append(row)
        return rows
