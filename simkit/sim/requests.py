"""The trace's requests as plain per-request lists the run reads in its hot path, and the
:class:`~simkit.policies.RequestView` a policy sees of each."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from types import MappingProxyType

import numpy as np

from simkit.fleet.spec import Fleet
from simkit.policies.base import RequestBatch, RequestView
from simkit.schema import TAG_SEPARATOR
from simkit.sim.arrays import int_column, tier_arrays
from simkit.trace.core import Trace
from simkit.trace.prefix import PREFIX_BLOCK_SIZE_KEY, PREFIX_BLOCKS_COLUMN

__all__ = ["RequestTable"]

_EMPTY_SCORES: Mapping[str, float] = MappingProxyType({})
_make_view = RequestView._make


class RequestTable:
    """Everything per request and per tier that is known before the run, as lists."""

    def __init__(
        self, trace: Trace, fleet: Fleet, allow_missing_quality: bool, sensitive_tag: str
    ) -> None:
        req = trace.requests
        self.where = trace.where
        self.ids = req["request_id"].astype(str).tolist()
        self.arrival = req["arrival_s"].to_numpy(dtype="float64").tolist()
        arrays = tier_arrays(trace, fleet, allow_missing_quality=allow_missing_quality)
        self.prompt = arrays.prompt_tokens.tolist()
        # prefix-block ids per request (tuples) and tokens per block; None without the column
        self.blocks: list[tuple[int, ...]] | None = None
        self.block_size: int | None = None
        if PREFIX_BLOCKS_COLUMN in req.columns:
            self.blocks = req[PREFIX_BLOCKS_COLUMN].tolist()
            self.block_size = int(trace.meta[PREFIX_BLOCK_SIZE_KEY])
        max_tok, max_known = int_column(trace, "max_tokens")
        self.max_tok = np.where(max_known, max_tok, -1).tolist()
        self.arrays = arrays
        self.out: list[list[int]] = [
            arrays.output_tokens[:, j].tolist() for j in range(len(fleet.tiers))
        ]
        self.category = req["category"].fillna("").astype(str).tolist()
        self.source = req["source"].fillna("").astype(str).tolist()
        tag_cache: dict[str, frozenset[str]] = {}
        tags = []
        for t in req["tags"].fillna("").astype(str).tolist():
            fs = tag_cache.get(t)
            if fs is None:
                fs = tag_cache[t] = frozenset(
                    x.strip() for x in t.split(TAG_SEPARATOR) if x.strip()
                )
            tags.append(fs)
        self.tags = tags
        self.sensitive = [sensitive_tag in t for t in tags]
        self.score_names = trace.score_names
        self.scores = (
            [trace.scores[c].to_numpy(dtype="float64").tolist() for c in self.score_names]
            if self.score_names
            else []
        )

    def __len__(self) -> int:
        return len(self.ids)

    # per tier, as lists, built when first read: a run reads quality only to show a policy's
    # next_tier() the finished attempt, and recorded costs only with cost_source='observed'
    @cached_property
    def quality(self) -> list[list[float]]:
        return [col.tolist() for col in self.arrays.quality.T]

    @cached_property
    def observed_cost(self) -> list[list[float]]:
        return [col.tolist() for col in self.arrays.observed_cost_usd.T]

    def request_view(self, i: int) -> RequestView:
        scores = (
            {name: col[i] for name, col in zip(self.score_names, self.scores, strict=True)}
            if self.scores
            else _EMPTY_SCORES
        )
        blocks = self.blocks
        # _make: the tuple built in C, without the named tuple's Python-level __new__
        return _make_view(
            (
                self.ids[i],
                self.arrival[i],
                self.prompt[i],
                self.max_tok[i],
                self.category[i],
                self.source[i],
                self.tags[i],
                scores,
                blocks[i] if blocks is not None else (),
            )
        )

    def request_batch(self, first: int, stop: int) -> RequestBatch:
        """Requests ``first`` to ``stop - 1`` as columns, for a policy's ``route_batch``."""
        rows = self.rows
        blocks = self.blocks
        return RequestBatch(
            rows(self.ids, first, stop),
            rows(self.arrival, first, stop),
            rows(self.prompt, first, stop),
            rows(self.max_tok, first, stop),
            rows(self.category, first, stop),
            rows(self.source, first, stop),
            rows(self.tags, first, stop),
            MappingProxyType(
                {
                    name: np.asarray(rows(col, first, stop), dtype="float64")
                    for name, col in zip(self.score_names, self.scores, strict=True)
                }
            ),
            rows(blocks, first, stop) if blocks is not None else None,
        )

    @staticmethod
    def rows(column: list, first: int, stop: int) -> list:
        """Rows ``first`` to ``stop - 1`` of one of the table's columns."""
        return column[first:stop]
