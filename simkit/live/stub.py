"""A loopback OpenAI-compatible server for tests, dry runs and benchmarks (127.0.0.1 only).

It speaks the chat-completions API as OpenAI sends it: ``POST /v1/chat/completions`` with and
without ``stream`` (SSE chunks, a final usage chunk when ``stream_options.include_usage`` is
set, then ``data: [DONE]``), ``GET /v1/models``, OpenAI's error bodies (401, 404
``model_not_found``, 400 ``context_length_exceeded``, 429 with ``retry-after``, 5xx). Each model
has its own latency (TTFT and token-rate distributions) and faults (429s, 5xx, stalls,
mid-stream disconnects, malformed chunks), and answers questions it has a key for
(:mod:`simkit.live.answers`: the shipped GSM8K key, or yours) right with a configured
probability, seeded, so graders are exercised end to end. It runs on uvicorn + Starlette.

Starting it from a test
-----------------------
In the test's own process (a background thread with its own event loop)::

    from simkit.live.stub import StubConfig, StubModel, StubServer

    @pytest.fixture
    def stub():
        config = StubConfig(models=(StubModel("small"), StubModel("big", p_correct=0.9)))
        with StubServer(config) as server:  # 127.0.0.1, an ephemeral port
            yield server                   # server.base_url == "http://127.0.0.1:PORT/v1"

    client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="unused")

In a separate process (so client and server do not share a GIL; what the benchmark does)::

    from simkit.live.stub import start_stub_process
    with start_stub_process(config) as proc:
        ... proc.base_url ...

From a shell: ``simkit live stub --port 8000 [--config stub.yaml]``. ``GET /stub/log`` returns,
per served request, the server's own timestamps (``time.time_ns()`` at receipt, at the first
content chunk and at the end) keyed by the ``x-request-id`` response header (also the
completion's ``id``), so a client can measure its own overhead on TTFT.

Stub YAML::

    seed: 0
    api_key_env: STUB_KEY        # optional: require this key (read from the environment)
    answers: my_mmlu_key.jsonl   # optional: more answers (request_id / prompt, kind, answer)
    models:
      small:
        ttft_s: {median: 0.2, sigma: 0.3}
        output_tokens_per_s: {median: 60, sigma: 0.2}
        output_tokens: 16        # answer length in tokens (one token per chunk)
        p_correct: 0.6
        p_429: 0.05
        retry_after_s: 0.5
        p_5xx: 0.01
        context_window: 8192
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import SimkitError, SpecError
from simkit.fleet.spec import Jitter
from simkit.live.answers import AnswerKey, Reference, load_answer_key, shipped_answer_key
from simkit.live.graders import JUDGE_TEMPLATE
from simkit.live.serving import BackgroundServer, listening_socket
from simkit.live.text import conversation_text, messages_to_text, prompt_sha256
from simkit.seeding import named_stream

__all__ = [
    "StubConfig",
    "StubModel",
    "StubProcess",
    "StubServer",
    "create_app",
    "load_stub_config",
    "start_stub_process",
]

_LETTERS = "ABCD"
_JUDGE_PREFIX = JUDGE_TEMPLATE.split("{question}")[0][:60]
_FILLER = (
    " Let", " me", " think", " step", " by", " step", " about", " the", " question", " and",
    " check", " each", " part", " carefully", " before", " I", " give", " a", " final", " reply",
)  # fmt: skip


def _prob(v: Any, key: str, source: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 <= v <= 1):
        raise SpecError(source, key=key, problem=f"must be a probability in [0, 1], got {v!r}")
    return float(v)


def _positive(v: Any, key: str, source: str, *, allow_zero: bool = True) -> float:
    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
    ok = ok and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise SpecError(source, key=key, problem=f"must be a finite number {bound}, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class StubModel:
    """One model the stub serves: its latency, its faults, its answers.

    Parameters
    ----------
    name : str
        The model id clients send.
    ttft_s : Jitter
        Time from receipt to the first content chunk (lognormal around its median).
    output_tokens_per_s : Jitter or None
        Speed after the first token, drawn once per request; ``None`` = no delay between chunks.
    output_tokens : int
        Answer length in tokens; one token per chunk (cut at the request's ``max_tokens``).
    p_correct : float
        Probability that an answer to a question in the key is right (seeded per prompt); for
        a question without a key, that the answer ends "I am sure." (which the stub, asked as
        an MT-Bench judge, rates 6-10) rather than "I am unsure." (rated 1-5).
    p_429, retry_after_s : float
        Probability of a 429 (with ``retry-after: retry_after_s``) per attempt.
    p_5xx : float
        Probability of a 500 per attempt.
    p_stall, stall_s : float
        Probability that a stream pauses ``stall_s`` seconds halfway through.
    p_disconnect : float
        Probability that a stream is cut halfway (the connection closes without ``[DONE]``).
    p_malformed : float
        Probability that a stream carries a chunk that is not JSON.
    context_window : int or None
        Prompt + ``max_tokens`` above this is refused with 400 ``context_length_exceeded``.
    report_usage : bool
        Whether the final usage chunk is sent when the client asks for it (vLLM and OpenAI do).
    """

    name: str
    ttft_s: Jitter = Jitter(0.0, 0.0)
    output_tokens_per_s: Jitter | None = None
    output_tokens: int = 16
    p_correct: float = 0.7
    p_429: float = 0.0
    retry_after_s: float = 0.5
    p_5xx: float = 0.0
    p_stall: float = 0.0
    stall_s: float = 1.0
    p_disconnect: float = 0.0
    p_malformed: float = 0.0
    context_window: int | None = None
    report_usage: bool = True

    def __post_init__(self) -> None:
        src = f"stub model {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise SpecError("<stub config>", key="models", problem="a model needs a non-empty name")
        for key in ("p_correct", "p_429", "p_5xx", "p_stall", "p_disconnect", "p_malformed"):
            _prob(getattr(self, key), key, src)
        for key in ("retry_after_s", "stall_s"):
            _positive(getattr(self, key), key, src)
        n = self.output_tokens
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SpecError(src, key="output_tokens", problem=f"must be an integer >= 1, got {n!r}")
        w = self.context_window
        if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
            raise SpecError(
                src, key="context_window", problem=f"must be an integer >= 1, got {w!r}"
            )
        if self.output_tokens_per_s is not None and self.output_tokens_per_s.median <= 0:
            raise SpecError(src, key="output_tokens_per_s", problem="median must be > 0")

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the YAML body of this model, without its name)."""
        d = asdict(self)
        d.pop("name")
        return d


@dataclass(frozen=True)
class StubConfig:
    """The models a stub serves, its seed, its API key and its answer key.

    Parameters
    ----------
    models : sequence of StubModel
        Served models (names unique).
    seed : int
        Seeds answers and faults: the same prompt to the same model gets the same answer.
    api_key : str or None
        If set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
    answers : AnswerKey or None
        Extra reference answers, merged over the shipped GSM8K key.
    """

    models: Sequence[StubModel] = (StubModel("stub-model"),)
    seed: int = 0
    api_key: str | None = field(default=None, repr=False)
    answers: AnswerKey | None = None

    def __post_init__(self) -> None:
        models = tuple(self.models)
        names = [m.name for m in models]
        if not models:
            raise SpecError("<stub config>", key="models", problem="at least one model is needed")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise SpecError("<stub config>", key=f"models.{dup[0]}", problem="model named twice")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpecError(
                "<stub config>", key="seed", problem=f"must be an integer >= 0, got {self.seed!r}"
            )
        object.__setattr__(self, "models", models)

    def model(self, name: str) -> StubModel | None:
        """The served model called ``name``, or None."""
        return next((m for m in self.models if m.name == name), None)


_MODEL_KEYS = {f for f in StubModel.__dataclass_fields__ if f != "name"}


def _model_from_dict(name: str, body: Any, source: str) -> StubModel:
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise SpecError(source, key=f"models.{name}", problem="expected a mapping of settings")
    unknown = sorted(set(body) - _MODEL_KEYS)
    if unknown:
        raise SpecError(
            source,
            key=f"models.{name}.{unknown[0]}",
            problem=f"unknown setting; valid settings: {', '.join(sorted(_MODEL_KEYS))}",
        )
    kwargs = dict(body)
    for key in ("ttft_s", "output_tokens_per_s"):
        v = kwargs.get(key)
        if isinstance(v, Mapping):
            extra = sorted(set(v) - {"median", "sigma"})
            if extra:
                raise SpecError(
                    source,
                    key=f"models.{name}.{key}.{extra[0]}",
                    problem="expected median and sigma only",
                )
            try:
                kwargs[key] = Jitter(**v)
            except SpecError as exc:
                raise SpecError(
                    source, key=f"models.{name}.{key}.{exc.key}", problem=exc.problem
                ) from None
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            kwargs[key] = Jitter(float(v), 0.0)
        elif v is not None:
            raise SpecError(
                source,
                key=f"models.{name}.{key}",
                problem=f"expected a number or {{median, sigma}}, got {v!r}",
            )
    try:
        return StubModel(name=name, **kwargs)
    except SpecError as exc:
        raise SpecError(source, key=f"models.{name}.{exc.key}", problem=exc.problem) from None


def config_from_dict(
    data: Any, *, source: str = "<stub config>", base: Path | None = None
) -> StubConfig:
    """Build a :class:`StubConfig` from plain data (the YAML layout in the module docstring)."""
    if not isinstance(data, Mapping):
        raise SpecError(source, problem="expected a mapping with 'models'")
    unknown = sorted(set(data) - {"models", "seed", "api_key_env", "answers"})
    if unknown:
        raise SpecError(
            source,
            key=unknown[0],
            problem="unknown key; valid keys: answers, api_key_env, models, seed",
        )
    models_body = data.get("models")
    if not isinstance(models_body, Mapping) or not models_body:
        raise SpecError(
            source, key="models", problem="expected a mapping of model name -> settings"
        )
    models = tuple(_model_from_dict(str(n), b, source) for n, b in models_body.items())
    api_key = None
    env = data.get("api_key_env")
    if env is not None:
        if not isinstance(env, str) or not env:
            raise SpecError(
                source, key="api_key_env", problem="expected the name of an environment variable"
            )
        api_key = os.environ.get(env)
        if not api_key:
            raise SpecError(
                source, key="api_key_env", problem=f"environment variable {env} is not set"
            )
    answers = None
    if data.get("answers") is not None:
        path = Path(data["answers"])
        answers = load_answer_key(path if path.is_absolute() or base is None else base / path)
    seed = data.get("seed", 0)
    try:
        return StubConfig(models=models, seed=seed, api_key=api_key, answers=answers)
    except SpecError as exc:
        raise SpecError(source, key=exc.key, problem=exc.problem) from None


def load_stub_config(path: str | PathLike[str]) -> StubConfig:
    """Read a stub YAML file; errors name the file and the key."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text("utf-8"))
    except OSError as exc:
        raise SpecError(p, problem=f"cannot read the stub config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise SpecError(p, problem=f"not valid YAML ({exc})") from None
    return config_from_dict(data, source=str(p), base=p.parent)


# -- the answers ---------------------------------------------------------------------------


_SURE = [" I", " am", " sure", "."]
_UNSURE = [" I", " am", " unsure", "."]


def _answer_tokens(
    ref: Reference | None,
    correct: bool,
    n: int,
    rng: np.random.Generator,
    *,
    judged: str | None = None,
) -> list[str]:
    """``n`` chunk texts (one token each): filler reasoning, then ``The answer is X.`` for a
    question in the key, else ``I am sure.`` (a good answer, with probability ``p_correct``) or
    ``I am unsure.``. Asked to judge (MT-Bench's prompt; ``judged`` is that prompt), the tail is
    ``Rating: [[k]]``, k seeded in 6..10 for a sure answer, 1..5 for an unsure one, else 1..10."""
    if judged is not None:
        answer = judged.rsplit("[The Start of Assistant's Answer]", 1)[-1]
        low, high = (
            (6, 11) if "I am sure." in answer else (1, 6) if "I am unsure." in answer else (1, 11)
        )
        tail: list[str] = [" Rating", ":", " [[", str(int(rng.integers(low, high))), "]]"]
        if n < len(tail):
            tail = [f"[[{tail[3]}]]"]
    elif ref is None:
        tail = list(_SURE if correct else _UNSURE)[-n:]
    else:
        if ref.kind == "letter":
            value = ref.answer if correct else rng.choice([c for c in _LETTERS if c != ref.answer])
        else:
            gold = float(ref.answer)
            if correct:
                value = ref.answer
            else:
                wrong = gold + int(rng.integers(1, 10)) * (1 if rng.random() < 0.5 else -1)
                value = str(int(wrong)) if wrong == int(wrong) else f"{wrong:g}"
        tail = [" The", " answer", " is", f" {value}", "."]
        if n < len(tail):
            tail = [f" {value}"]
    head = [_FILLER[i % len(_FILLER)] for i in range(max(0, n - len(tail)))]
    tokens = (head + tail)[:n] if tail and n >= len(tail) else (head + tail)[-n:]
    if tokens:
        tokens[0] = tokens[0].lstrip()
    return tokens


# -- the ASGI app --------------------------------------------------------------------------


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    ).encode()


class _ChatCompletions:
    """The ``/v1/chat/completions`` endpoint as a raw ASGI app (it controls each body write)."""

    def __init__(self, config: StubConfig, log: deque[dict[str, Any]] | None) -> None:
        self.config = config
        self.key = (
            shipped_answer_key()
            if config.answers is None
            else shipped_answer_key().merged(config.answers)
        )
        self.log = log
        self.attempts: dict[tuple[str, str], int] = {}
        self.n = 0
        from simkit.trace.tokens import token_counter

        # one text at a time (count_tokens' batch path starts a thread pool per call);
        # loaded now, not inside the first request's TTFT
        self.count = lru_cache(maxsize=65536)(token_counter())
        self.count("")
        # JSON of each chunk text (the filler words repeat across answers)
        self.json_text = lru_cache(maxsize=4096)(json.dumps)
        # models that can draw nothing from their fault stream skip building it (its draws
        # would all be "no fault" and the medians: the same answers, bit for bit)
        self.faultless = {
            m.name
            for m in config.models
            if not (m.p_429 or m.p_5xx or m.p_stall or m.p_disconnect or m.p_malformed)
            and m.ttft_s.sigma == 0
            and (m.output_tokens_per_s is None or m.output_tokens_per_s.sigma == 0)
        }

    async def _body(self, receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _reply(
        self, send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *headers],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        received_ns = time.time_ns()
        if scope["method"] != "POST":
            await self._reply(send, 405, _error_body("Use POST", "invalid_request_error", None))
            return
        if self.config.api_key is not None:
            auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if auth != f"Bearer {self.config.api_key}":
                msg = "Incorrect API key provided."
                await self._reply(
                    send, 401, _error_body(msg, "invalid_request_error", "invalid_api_key")
                )
                return
        try:
            req = json.loads(await self._body(receive))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            await self._reply(
                send,
                400,
                _error_body(
                    f"We could not parse the JSON body of your request ({exc})",
                    "invalid_request_error",
                    None,
                ),
            )
            return
        if (
            not isinstance(req, dict)
            or not isinstance(req.get("messages"), list)
            or not req["messages"]
        ):
            await self._reply(
                send,
                400,
                _error_body(
                    "'messages' is a required property", "invalid_request_error", None, "messages"
                ),
            )
            return
        name = req.get("model")
        model = self.config.model(name) if isinstance(name, str) else None
        if model is None:
            msg = f"The model `{name}` does not exist or you do not have access to it."
            await self._reply(
                send, 404, _error_body(msg, "invalid_request_error", "model_not_found")
            )
            return
        try:
            text = conversation_text(req["messages"])
            question = messages_to_text(req["messages"])
        except SimkitError as exc:
            await self._reply(
                send, 400, _error_body(str(exc), "invalid_request_error", None, "messages")
            )
            return
        sha = prompt_sha256(question)
        prompt_tokens = self.count(text)
        max_tokens = req.get("max_completion_tokens", req.get("max_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            await self._reply(
                send,
                400,
                _error_body(
                    f"max_tokens must be an integer >= 1, got {max_tokens!r}",
                    "invalid_request_error",
                    None,
                    "max_tokens",
                ),
            )
            return
        window = model.context_window
        if window is not None and prompt_tokens + (max_tokens or 0) > window:
            msg = (
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt_tokens + (max_tokens or 0)} tokens ({prompt_tokens} in the messages, "
                f"{max_tokens or 0} in the completion). Please reduce the length of the messages or completion."
            )
            await self._reply(
                send,
                400,
                _error_body(msg, "invalid_request_error", "context_length_exceeded", "messages"),
            )
            return
        attempt = self.attempts.get((model.name, sha), 0)
        self.attempts[(model.name, sha)] = attempt + 1
        faultless = model.name in self.faultless
        faults = (
            None
            if faultless
            else named_stream(self.config.seed, f"fault/{model.name}/{sha}/{attempt}")
        )
        self.n += 1
        rid = f"chatcmpl-stub{self.n}"
        entry = {
            "id": rid,
            "model": model.name,
            "received_ns": received_ns,
            "first_token_ns": None,
            "end_ns": None,
            "status": 200,
        }
        if self.log is not None:
            self.log.append(entry)
        headers = [(b"x-request-id", rid.encode())]
        if not faultless and faults.random() < model.p_429:
            entry["status"] = 429
            ra = model.retry_after_s
            headers += [
                (b"retry-after", f"{math.ceil(ra)}".encode()),
                (b"retry-after-ms", f"{int(ra * 1000)}".encode()),
            ]
            msg = f"Rate limit reached for {model.name}. Please try again in {ra:g}s."
            await self._reply(
                send, 429, _error_body(msg, "requests", "rate_limit_exceeded"), headers
            )
            return
        if not faultless and faults.random() < model.p_5xx:
            entry["status"] = 500
            await self._reply(
                send,
                500,
                _error_body(
                    "The server had an error while processing your request.", "server_error", None
                ),
                headers,
            )
            return
        if faultless:
            ttft = float(model.ttft_s.median)
            tps = model.output_tokens_per_s
            speed = None if tps is None else float(tps.median)
            stall = disconnect = malformed = False
        else:
            ttft = float(model.ttft_s.sample(faults))
            speed = (
                None
                if model.output_tokens_per_s is None
                else float(model.output_tokens_per_s.sample(faults))
            )
            stall = faults.random() < model.p_stall
            disconnect = faults.random() < model.p_disconnect
            malformed = faults.random() < model.p_malformed
        ref = self.key.lookup(text=question)
        answer_rng = named_stream(self.config.seed, f"answer/{model.name}/{sha}")
        correct = bool(answer_rng.random() < model.p_correct)
        judged = question if question.startswith(_JUDGE_PREFIX) else None
        tokens = _answer_tokens(ref, correct, model.output_tokens, answer_rng, judged=judged)
        finish = "stop"
        if max_tokens is not None and len(tokens) > max_tokens:
            tokens, finish = tokens[:max_tokens], "length"
        created = int(time.time())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
        }
        target = received_ns / 1e9 + ttft
        if not req.get("stream"):
            delay = (
                target - time.time() + (len(tokens) - 1) / speed if speed else target - time.time()
            )
            if delay > 0:
                await asyncio.sleep(delay)
            entry["first_token_ns"] = entry["end_ns"] = time.time_ns()
            body = {
                "id": rid,
                "object": "chat.completion",
                "created": created,
                "model": model.name,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": "".join(tokens),
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": usage if model.report_usage else None,
                "system_fingerprint": "fp_simkit_stub",
            }
            await self._reply(send, 200, json.dumps(body).encode(), headers)
            return
        include_usage = (
            bool((req.get("stream_options") or {}).get("include_usage")) and model.report_usage
        )
        usage_field = ',"usage":null' if include_usage else ""
        prefix = (
            f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(model.name)},"system_fingerprint":"fp_simkit_stub","choices":[{{"index":0,'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    *headers,
                ],
            }
        )
        first = f'{prefix}"delta":{{"role":"assistant","content":"","refusal":null}},"logprobs":null,"finish_reason":null}}]{usage_field}}}\n\n'
        await send({"type": "http.response.body", "body": first.encode(), "more_body": True})
        # every content chunk's bytes up front: the loop below only paces and writes
        head = f'{prefix}"delta":{{"content":'
        rest = f'}},"logprobs":null,"finish_reason":null}}]{usage_field}}}\n\n'
        jt = self.json_text
        bodies = [f"{head}{jt(tok)}{rest}".encode() for tok in tokens]
        half = len(tokens) // 2
        special = stall or disconnect or malformed
        for i, chunk in enumerate(bodies):
            if speed or i == 0:  # without a speed every chunk is due at the first one's time
                wait = target + (i / speed if speed else 0.0) - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            if special and i == half:
                if stall:
                    await asyncio.sleep(model.stall_s)
                    target += model.stall_s
                if disconnect:
                    entry["status"] = "disconnected"
                    return  # no final body message: uvicorn closes the connection mid-stream
                if malformed:
                    await send(
                        {
                            "type": "http.response.body",
                            "body": b'data: {"id": "broken", "choices": [\n\n',
                            "more_body": True,
                        }
                    )
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if i == 0:
                entry["first_token_ns"] = time.time_ns()
        tail = (
            f'{prefix}"delta":{{}},"logprobs":null,"finish_reason":"{finish}"}}]{usage_field}}}\n\n'
        )
        if include_usage:
            tail += (
                f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},'
                f'"model":{json.dumps(model.name)},"system_fingerprint":"fp_simkit_stub","choices":[],'
                f'"usage":{json.dumps(usage)}}}\n\n'
            )
        tail += "data: [DONE]\n\n"
        entry["end_ns"] = time.time_ns()
        await send({"type": "http.response.body", "body": tail.encode(), "more_body": False})


def create_app(config: StubConfig, *, keep_log: bool = True):
    """The stub's ASGI application (``/v1/chat/completions``, ``/v1/models``, ``/stub/log``).

    Chat completions are answered by a raw ASGI endpoint; the other routes by Starlette.
    ``keep_log=False`` keeps no ``/stub/log`` entries (it then returns an empty list).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    # the last 200,000 requests: a long dry run does not grow without bound
    log: deque[dict[str, Any]] | None = deque(maxlen=200_000) if keep_log else None
    chat = _ChatCompletions(config, log)

    async def models(request: Request) -> Response:
        if (
            config.api_key is not None
            and request.headers.get("authorization") != f"Bearer {config.api_key}"
        ):
            return Response(
                _error_body(
                    "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                ),
                401,
                media_type="application/json",
            )
        data = [
            {"id": m.name, "object": "model", "created": 0, "owned_by": "simkit-stub"}
            for m in config.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def stub_log(request: Request) -> Response:
        return JSONResponse({"requests": [] if log is None else list(log)})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/stub/log", stub_log, methods=["GET"]),
        ]
    )

    async def asgi(scope, receive, send) -> None:
        # the hot path goes straight to the endpoint (it answers every method and error
        # itself); Starlette's middleware stack and router cost more than the answer does
        if scope["type"] == "http" and scope["path"] == "/v1/chat/completions":
            await chat(scope, receive, send)
        else:
            await app(scope, receive, send)

    return asgi


def _uvicorn_config(app, port: int, log_level: str, sock_host: str = "127.0.0.1"):
    import uvicorn

    return uvicorn.Config(
        app,
        host=sock_host,
        port=port,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,  # loopback only: no proxy in front, no X-Forwarded-* to trust
        loop="uvloop" if _has("uvloop") else "asyncio",
        http="httptools" if _has("httptools") else "h11",
        lifespan="off",
        timeout_graceful_shutdown=2,
        backlog=4096,
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class StubServer(BackgroundServer):
    """Run the stub in this process, in a background thread, on 127.0.0.1.

    Parameters
    ----------
    config : StubConfig
        What to serve.
    port : int
        0 (the default) picks a free ephemeral port; read it from :attr:`port`.
    log_level : str
        uvicorn's log level (``'error'`` by default; mid-stream disconnects log one line each).

    Examples
    --------
    >>> with StubServer(StubConfig()) as server:  # doctest: +SKIP
    ...     print(server.base_url)
    http://127.0.0.1:43817/v1
    """

    what = "stub server"

    def __init__(self, config: StubConfig, *, port: int = 0, log_level: str = "error") -> None:
        super().__init__(port=port, log_level=log_level, start_timeout_s=10.0)
        self.config = config

    def uvicorn_config(self, port: int):
        """The stub app on ``port``, with the stub's uvicorn settings."""
        return _uvicorn_config(create_app(self.config), port, self.log_level)


@dataclass
class StubProcess:
    """A stub running in a child process (``python -m simkit.live.stub``)."""

    process: subprocess.Popen
    port: int

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 5 s) and reap it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config_to_dict(config: StubConfig) -> dict[str, Any]:
    """Plain data for :func:`config_from_dict` (the API key and answer key are not included)."""
    return {"seed": config.seed, "models": {m.name: m.as_dict() for m in config.models}}


def start_stub_process(
    config: StubConfig | str | PathLike[str] | None = None,
    *,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    keep_log: bool = True,
) -> StubProcess:
    """Start the stub in a child process on 127.0.0.1 and wait until it listens.

    Parameters
    ----------
    config : StubConfig, path or None
        A config object (its API key and extra answers are not passed on: use a YAML file
        with ``api_key_env`` and ``answers`` for those), a stub YAML path, or None (one model).
    port : int
        0 picks a free port.
    env : mapping, optional
        Environment of the child (default: this process's).
    timeout_s : float
        How long to wait for it to listen.
    keep_log : bool
        False: the child keeps no ``/stub/log`` entries (a load test's stub).
    """
    cmd = [sys.executable, "-m", "simkit.live.stub", "--port", str(port)]
    if not keep_log:
        cmd.append("--no-request-log")
    if isinstance(config, StubConfig):
        cmd += ["--config-json", json.dumps(config_to_dict(config))]
    elif config is not None:
        cmd += ["--config", str(config)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=None if env is None else dict(env)
    )
    deadline = time.monotonic() + timeout_s
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.startswith("simkit stub listening on"):
            port_no = int(line.rsplit(":", 1)[1].split("/")[0])
            return StubProcess(proc, port_no)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    raise SimkitError(f"the stub process did not start (last output: {line.strip()!r})")


def serve_forever(
    config: StubConfig, *, port: int, log_level: str = "warning", keep_log: bool = True
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (what ``simkit live stub`` runs);
    ``keep_log=False`` keeps no ``/stub/log`` entries (a load test's stub)."""
    import uvicorn

    sock = listening_socket("127.0.0.1", port)
    bound = sock.getsockname()[1]
    server = uvicorn.Server(
        _uvicorn_config(create_app(config, keep_log=keep_log), bound, log_level)
    )
    # what is loaded now lives as long as the process: out of the collector's full passes,
    # whose pauses (tens of ms) every request in flight would wait out (as the gateway does)
    gc.collect()
    gc.freeze()
    print(f"simkit stub listening on http://127.0.0.1:{bound}/v1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(sockets=[sock]))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m simkit.live.stub [--config FILE | --config-json JSON] [--port N]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="simkit live stub", description="Loopback OpenAI-compatible server (127.0.0.1)."
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port on 127.0.0.1 (0 = any free port)"
    )
    parser.add_argument("--config", help="stub YAML (models, latency, faults, answers)")
    parser.add_argument("--config-json", help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--no-request-log",
        action="store_true",
        help="keep no /stub/log entries (a load test: nothing grows with the requests served)",
    )
    args = parser.parse_args(argv)
    if args.config:
        config = load_stub_config(args.config)
    elif args.config_json:
        config = config_from_dict(json.loads(args.config_json), source="--config-json")
    else:
        config = StubConfig()
    serve_forever(
        config, port=args.port, log_level=args.log_level, keep_log=not args.no_request_log
    )


if __name__ == "__main__":
    try:
        main()
    except SimkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
