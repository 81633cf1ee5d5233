"""Scoring prompts inside the event loop: inline for a static bundle, batched for a transformer.

A static-embedding bundle scores a prompt in a fraction of a millisecond with numpy, so the
gateway scores it where the request is handled. A transformer-embedding bundle takes
milliseconds per call, most of it fixed cost per forward pass, so concurrent decisions are
batched: requests queue their prompts, one worker thread scores everything queued since its
last pass in one ``Bundle.p_hard`` call (torch releases the GIL while it runs), and each request
gets its own score back. Under light load a batch holds one prompt and nothing waits for a
batch to fill.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from simkit.router import Router

__all__ = ["BatchScorer", "InlineScorer", "make_scorer"]


class InlineScorer:
    """Score each prompt where it is asked (static-embedding bundles)."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def score(self, text: str) -> float:
        """``p_hard`` of one prompt text."""
        return self.router.score(text)

    async def start(self) -> None:
        """Score one prompt, so the first request does not pay for loading the tokenizer."""
        self.router.score("warm-up")

    async def stop(self) -> None:
        """Nothing to stop."""


class BatchScorer:
    """Score concurrent prompts together in one worker thread (transformer bundles).

    Parameters
    ----------
    router : Router
    max_batch : int
        Most prompts scored in one call.
    """

    def __init__(self, router: Router, max_batch: int = 64) -> None:
        self.router = router
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[float]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.batches: list[int] = []  # sizes of the last batches (for the benchmark's report)

    async def start(self) -> None:
        """Load the embedder (it is built on first use) and start the worker, inside the
        running event loop; the server accepts requests only after this."""
        self._queue = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simkit-scorer")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._warm_up)
        self._task = asyncio.create_task(self._run())

    def _warm_up(self) -> None:
        self.router.bundle.p_hard(["warm-up"])  # builds the embedder (torch is loaded now)
        import torch

        # one intra-op thread: the scorer is one worker among the server's own threads, and
        # torch's spinning OpenMP pool collapses on a busy 2-core machine (measured: decisions
        # of seconds at 10 requests/s with the default pool under load)
        torch.set_num_threads(1)

    async def stop(self) -> None:
        """Stop the worker; prompts still queued get a cancellation."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def score(self, text: str) -> float:
        """``p_hard`` of one prompt text, scored in the next batch."""
        assert self._queue is not None, "BatchScorer.score before start()"
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((text, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(t, f) for t, f in batch if not f.done()]  # the client may have gone
            if not batch:
                continue
            self.batches = [*self.batches[-999:], len(batch)]
            texts = [t for t, _ in batch]
            try:
                scores = await loop.run_in_executor(self._pool, self.router.bundle.p_hard, texts)
            except Exception as exc:  # the error goes to every request of the batch
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), s in zip(batch, scores, strict=True):
                if not f.done():
                    f.set_result(float(s))


def make_scorer(router: Router, *, max_batch: int = 64) -> InlineScorer | BatchScorer:
    """The scorer that suits the bundle's embedder: inline for static, batched otherwise."""
    if router.bundle.embedder_identity.get("kind") == "static":
        return InlineScorer(router)
    return BatchScorer(router, max_batch=max_batch)
