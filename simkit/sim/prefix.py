"""A GPU replica's prefix cache: the KV blocks it keeps after computing them, in LRU order.

vLLM's automatic prefix caching, reduced to what changes a request's timing: a request's
prompt is a list of block ids (:mod:`simkit.trace.prefix`); when a replica admits it, the
longest run of its *leading* blocks that the cache holds is not prefilled again
(:meth:`PrefixCache.admit`); when its prefill completes, all its blocks enter the cache
(:meth:`PrefixCache.insert`). The cache holds at most ``capacity_blocks`` blocks and evicts
the least recently used. Blocks touched together are ordered as vLLM frees them: a
request's *last* block is the least recent of its blocks, so eviction takes the tail of a
prefix first and keeps the head that other requests can still match.

What is simplified: the cache has its own capacity (by default the replica's whole KV
capacity, ``GpuServer.prefix_cache_tokens``) rather than sharing the free KV pool with running
requests, and a running request's KV is charged in full even when some of its blocks are
shared, so KV pressure, admission and preemption are those of an uncached replica; only the
prefill work changes. A request readmitted after a (recompute) preemption looks its prompt up
again and usually finds its own blocks, as in vLLM, so with preemptions even a trace whose
blocks are all distinct replays faster with the cache than without; without preemptions it
replays identically. At least one token of every prompt is computed (vLLM recomputes the
last token of a fully cached prompt to produce the first output token).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from simkit.policies.base import leading_blocks_held

__all__ = ["PrefixCache"]


class PrefixCache:
    """LRU cache of prefix-block ids on one replica, with its hit counters.

    Parameters
    ----------
    capacity_blocks : int
        Blocks it holds at most (>= 1).
    block_size : int
        Tokens per block (the trace's ``prefix_block_size``).

    Attributes
    ----------
    lookup_blocks, hit_blocks : int
        Blocks looked up at admissions, and how many of them were found (a leading run).
    saved_tokens : int
        Prefill tokens skipped thanks to those hits.
    evicted_blocks : int
        Blocks evicted to make room.
    """

    __slots__ = (
        "block_size",
        "blocks",
        "capacity_blocks",
        "evicted_blocks",
        "hit_blocks",
        "lookup_blocks",
        "saved_tokens",
    )

    def __init__(self, capacity_blocks: int, block_size: int) -> None:
        self.capacity_blocks = capacity_blocks
        self.block_size = block_size
        self.blocks: OrderedDict[int, None] = OrderedDict()  # least recently used first
        self.lookup_blocks = 0
        self.hit_blocks = 0
        self.saved_tokens = 0
        self.evicted_blocks = 0

    def match(self, blocks: Sequence[int]) -> int:
        """How many leading blocks of ``blocks`` the cache holds (no side effect)."""
        return leading_blocks_held(blocks, self.blocks)

    def admit(self, blocks: Sequence[int], n_prompt: int, prefill_len: int) -> int:
        """Prefill tokens a request admitted now skips: its cached leading blocks, at most its
        prompt and always leaving one token to compute. Counts the lookup and marks the hit
        blocks as just used.

        Parameters
        ----------
        blocks : sequence of int
            The request's prefix-block ids.
        n_prompt : int
            Its prompt tokens (the blocks cover these).
        prefill_len : int
            Tokens it would prefill without the cache (the prompt, plus the tokens generated
            before a preemption).
        """
        k = self.match(blocks)
        self.lookup_blocks += len(blocks)
        if not k:
            return 0
        self.hit_blocks += k
        self._touch(blocks[:k])
        saved = k * self.block_size
        if saved > n_prompt:
            saved = n_prompt
        if saved > prefill_len - 1:
            saved = prefill_len - 1
        self.saved_tokens += saved
        return saved

    def insert(self, blocks: Sequence[int]) -> None:
        """A request's prefill completed: its blocks are cached (the most recently used),
        evicting the least recently used beyond the capacity."""
        self._touch(blocks)
        cached = self.blocks
        while len(cached) > self.capacity_blocks:
            cached.popitem(last=False)
            self.evicted_blocks += 1

    def _touch(self, blocks: Sequence[int]) -> None:
        # the tail first, so that the head ends up most recent and is evicted last
        cached = self.blocks
        for b in reversed(blocks):
            if b in cached:
                cached.move_to_end(b)
            else:
                cached[b] = None
