"""The :class:`Trace`: requests plus per-model outcomes, validated on construction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.schema import (
    OUTCOME_COLUMNS,
    OUTCOME_REQUIRED,
    REQUEST_COLUMNS,
    REQUEST_REQUIRED,
    TAG_SEPARATOR,
    check_rows,
    require_columns,
)
from simkit.trace.prefix import PREFIX_BLOCKS_COLUMN, validate_prefix_blocks
from simkit.trace.readers import check_arrivals

__all__ = ["Trace"]


def _coerce(df: pd.DataFrame, column: str, dtype: str, where: str) -> pd.Series:
    """Convert one column to ``dtype``; on failure name the first row that does not convert."""
    s = df[column]
    if str(s.dtype) == dtype:
        return s
    at = {"where": where, "column": column}
    if dtype == "string":
        bad = s.map(lambda v: not (v is None or v is pd.NA or isinstance(v, str) or _isnan(v)))
        check_rows(
            bad.to_numpy(dtype=bool),
            problem=lambda i, n: f"expected text, got {type(s.iloc[i]).__name__} {s.iloc[i]!r}",
            **at,
        )
        return s.astype("string")
    numeric = pd.to_numeric(s, errors="coerce")
    check_rows(
        (numeric.isna() & s.notna()).to_numpy(dtype=bool),
        problem=lambda i, n: f"expected a number, got {s.iloc[i]!r} ({n} such rows)",
        **at,
    )
    if dtype == "Int64":
        arr = numeric.to_numpy(dtype="float64", na_value=np.nan)
        check_rows(
            np.isfinite(arr) & (arr != np.round(arr)),
            problem=lambda i, n: f"expected a whole number, got {float(arr[i])!r} ({n} such rows)",
            **at,
        )
        return numeric.astype("Int64")
    return numeric.astype(dtype)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _normalise(
    df: pd.DataFrame, columns: Mapping[str, str], required: Sequence[str], where: str
) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TraceError(where, problem=f"expected a pandas DataFrame, got {type(df).__name__}")
    require_columns(df, required, where=where)
    out = {}
    for column, dtype in columns.items():
        if column in df.columns:
            out[column] = _coerce(df, column, dtype, where).reset_index(drop=True)
        else:
            fill = np.nan if dtype == "float64" else pd.NA
            out[column] = pd.Series(fill, index=range(len(df)), dtype=dtype)
    extras = [c for c in df.columns if c not in columns]
    for column in extras:  # user columns are kept, never dropped
        out[column] = df[column].reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _validate_requests(req: pd.DataFrame, where: str) -> None:
    ids = req["request_id"]
    at = {"where": where, "column": "request_id"}
    check_rows(
        (ids.isna() | (ids.fillna("").str.len() == 0)).to_numpy(dtype=bool),
        problem=lambda i, n: f"missing or empty in {n} rows; every request needs an id",
        **at,
    )
    check_rows(
        ids.duplicated().to_numpy(),
        problem=lambda i, n: (
            f"duplicate id {ids.iloc[i]!r} (first seen in row "
            f"{int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0]) + 1}); {n} duplicate rows in all"
        ),
        **at,
    )
    check_arrivals(
        req["arrival_s"].to_numpy(dtype="float64", na_value=np.nan),
        column="arrival_s",
        where=where,
        hint="Sort the requests by arrival time before building the trace",
    )
    for column in ("prompt_tokens", "output_tokens", "max_tokens"):
        vals = req[column].to_numpy(dtype="float64", na_value=np.nan)
        check_rows(
            vals < 0,
            where=where,
            column=column,
            problem=lambda i, n, vals=vals: (
                f"negative in {n} rows (first: {vals[i]:g}); expected a count >= 0"
            ),
        )


def _arrow_strings(*columns: pd.Series | pd.Index) -> list | None:
    """The columns as pyarrow chunked arrays when every one holds Arrow-backed strings
    without missing values (request ids, model names); else ``None`` (pandas decides)."""
    arrow = pd.arrays.ArrowStringArray
    if not all(isinstance(c.array, arrow) and not c.array.isna().any() for c in columns):
        return None
    import pyarrow as pa

    out = [pa.array(c.array) for c in columns]
    return [x if isinstance(x, pa.ChunkedArray) else pa.chunked_array([x]) for x in out]


def isin_strings(values: pd.Series, allowed: pd.Series | pd.Index) -> np.ndarray:
    """``values.isin(allowed)`` as a bool array, through pyarrow's ``is_in`` when both hold
    Arrow-backed strings without missing values (request ids, model names).

    pandas' own ``isin`` on Arrow strings costs about 2.5 µs a row here (5 s for the two
    million outcome rows of a one-million-request trace, checked at every build of a Trace);
    pyarrow's, 0.08 µs. Anything else goes to pandas.
    """
    arrays = _arrow_strings(values, allowed)
    if arrays is None:
        return values.isin(allowed).to_numpy(dtype=bool)
    import pyarrow.compute as pc

    va, aa = arrays
    return np.asarray(pc.is_in(va, value_set=aa.combine_chunks()), dtype=bool)


def equal_strings(a: pd.Series, b: pd.Series) -> bool:
    """Whether ``a`` and ``b`` hold the same strings in the same order (no missing values).

    Arrow-backed strings are compared by pyarrow (a memory comparison); comparing them as
    NumPy object arrays first converts every value to a Python string (about 0.15 µs a row).
    """
    if len(a) != len(b):
        return False
    arrays = _arrow_strings(a, b)
    if arrays is None:
        return bool((a.to_numpy(dtype=object) == b.to_numpy(dtype=object)).all())
    xa, xb = arrays
    return bool(xa.equals(xb if xb.type == xa.type else xb.cast(xa.type)))


def _validate_outcomes(out: pd.DataFrame, ids: pd.Series, where: str) -> None:
    for column in ("request_id", "model"):
        check_rows(
            (out[column].isna() | (out[column].fillna("").str.len() == 0)).to_numpy(dtype=bool),
            where=where,
            column=column,
            problem=lambda i, n: f"missing or empty in {n} rows",
        )
    check_rows(
        ~isin_strings(out["request_id"], ids),
        where=where,
        column="request_id",
        problem=lambda i, n: (
            f"outcome for unknown request {out['request_id'].iloc[i]!r} "
            f"({n} such rows); every outcome must match a request"
        ),
    )
    check_rows(
        out.duplicated(["request_id", "model"]).to_numpy(),
        where=where,
        column="model",
        problem=lambda i, n: (
            f"second outcome for request {out['request_id'].iloc[i]!r} and model "
            f"{out['model'].iloc[i]!r} ({n} duplicate rows)"
        ),
    )
    q = out["quality"].to_numpy(dtype="float64", na_value=np.nan)
    check_rows(
        np.isinf(q) | (q < 0) | (q > 1),
        where=where,
        column="quality",
        problem=lambda i, n: (
            f"{float(q[i])!r} is outside [0, 1] ({n} such rows); quality is the "
            "score mapped onto [0, 1], the raw score goes in 'raw_score'"
        ),
    )
    raw = out["raw_score"].to_numpy(dtype="float64", na_value=np.nan)
    lo = out["scale_min"].to_numpy(dtype="float64", na_value=np.nan)
    hi = out["scale_max"].to_numpy(dtype="float64", na_value=np.nan)
    check_rows(
        np.isfinite(lo) & np.isfinite(hi) & (lo >= hi),
        where=where,
        column="scale_max",
        problem=lambda i, n: (
            f"scale [{lo[i]:g}, {hi[i]:g}] is empty; expected scale_min < scale_max"
        ),
    )
    check_rows(
        np.isfinite(raw) & ((np.isfinite(lo) & (raw < lo)) | (np.isfinite(hi) & (raw > hi))),
        where=where,
        column="raw_score",
        problem=lambda i, n: (
            f"{raw[i]:g} is outside its declared scale [{lo[i]:g}, {hi[i]:g}] ({n} such rows)"
        ),
    )
    for column in ("output_tokens", "latency_s", "ttft_s", "cost_usd"):
        vals = out[column].to_numpy(dtype="float64", na_value=np.nan)
        check_rows(
            np.isinf(vals) | (vals < 0),
            where=where,
            column=column,
            problem=lambda i, n: f"negative or infinite in {n} rows; expected a value >= 0",
        )


def _normalise_scores(scores: pd.DataFrame, ids: pd.Series, where: str) -> pd.DataFrame:
    require_columns(scores, ["request_id"], where=where)
    if (
        len(scores) != len(ids)
        or not (scores["request_id"].astype("string").to_numpy() == ids.to_numpy()).all()
    ):
        raise TraceError(
            where,
            column="request_id",
            problem="scores must have one row per request, in the requests' order",
            hint="Build them with Trace.with_scores(), which aligns by request id",
        )
    out = {"request_id": ids.reset_index(drop=True)}
    for column in scores.columns:
        if column == "request_id":
            continue
        vals = _coerce(scores, column, "float64", where).reset_index(drop=True)
        arr = vals.to_numpy()
        check_rows(
            ~np.isfinite(arr),
            where=where,
            column=column,
            problem=lambda i, n: f"score is missing or not finite in {n} rows",
        )
        if column.startswith("p_"):  # a probability, such as the classifier's p_hard
            check_rows(
                (arr < 0) | (arr > 1),
                where=where,
                column=column,
                problem=lambda i, n, arr=arr: (
                    f"{float(arr[i])!r} is outside [0, 1] ({n} such "
                    "rows); a score named p_* is a probability"
                ),
            )
        out[column] = vals
    return pd.DataFrame(out)


@dataclass(frozen=True, eq=False)
class Trace:
    """Recorded requests and how each model did on them.

    A trace is validated when it is built: a bad value raises :class:`~simkit.errors.TraceError`
    naming the table (or file), the row and the column. Columns are described in
    :mod:`simkit.schema`; absent optional columns are added as ``<NA>``, extra columns are kept.

    Parameters
    ----------
    requests : DataFrame
        One row per request, sorted by ``arrival_s``; needs ``request_id`` and ``arrival_s``.
    outcomes : DataFrame, optional
        Long form, one row per (request, model) that was recorded; needs ``request_id``,
        ``model`` and ``quality`` in [0, 1]. A request without a row for a model has *no*
        outcome for it (reported as missing, never as 0).
    scores : DataFrame, optional
        Classifier scores: ``request_id`` plus one finite float column per score, in request
        order; a score whose name starts with ``p_`` (``p_hard``) is a probability in [0, 1].
    meta : mapping, optional
        Provenance: name, sources, licences, how it was built. Stored with the trace.
        ``prefix_block_size`` (tokens per block) is required when the requests carry the
        optional ``prefix_blocks`` column (each request's prefix-block ids, a list of
        integers >= 0; :mod:`simkit.trace.prefix`), which self-hosted tiers with a prefix
        cache read.
    where : str
        Where the trace came from, used in error messages (a path or a description).

    Examples
    --------
    >>> import pandas as pd
    >>> from simkit import Trace
    >>> t = Trace(pd.DataFrame({"request_id": ["a", "b"], "arrival_s": [0.0, 1.5]}))
    >>> t.n_requests
    2
    """

    requests: pd.DataFrame
    outcomes: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(OUTCOME_REQUIRED))
    )
    scores: pd.DataFrame | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    where: str = "<trace>"

    def __post_init__(self) -> None:
        req_where = f"{self.where} (requests)"
        requests = _normalise(self.requests, REQUEST_COLUMNS, REQUEST_REQUIRED, req_where)
        requests["tags"] = requests["tags"].fillna("")
        _validate_requests(requests, req_where)
        blocks = validate_prefix_blocks(requests, self.meta, req_where)
        if blocks is not None:  # optional column: each request's prefix-block ids, as tuples
            requests[PREFIX_BLOCKS_COLUMN] = blocks
        out_where = f"{self.where} (outcomes)"
        outcomes = _normalise(self.outcomes, OUTCOME_COLUMNS, OUTCOME_REQUIRED, out_where)
        _validate_outcomes(outcomes, requests["request_id"], out_where)
        object.__setattr__(self, "requests", requests)
        object.__setattr__(self, "outcomes", outcomes)
        if self.scores is not None:
            scores = _normalise_scores(
                self.scores, requests["request_id"], f"{self.where} (scores)"
            )
            object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # -- read-only views -------------------------------------------------------------------
    @property
    def n_requests(self) -> int:
        """Number of requests."""
        return len(self.requests)

    @property
    def models(self) -> tuple[str, ...]:
        """Models with at least one outcome row, sorted by name."""
        return tuple(sorted(self.outcomes["model"].unique().tolist()))

    @property
    def duration_s(self) -> float:
        """Time from the first to the last arrival (0 for fewer than two requests)."""
        a = self.requests["arrival_s"]
        return float(a.iloc[-1] - a.iloc[0]) if len(a) > 1 else 0.0

    @property
    def score_names(self) -> tuple[str, ...]:
        """Names of the classifier score columns attached to this trace."""
        return (
            ()
            if self.scores is None
            else tuple(c for c in self.scores.columns if c != "request_id")
        )

    def quality_matrix(self, models: Sequence[str] | None = None) -> pd.DataFrame:
        """Quality per request (rows, in request order) and model (columns); NaN = no outcome.

        Raises
        ------
        TraceError
            If a requested model has no outcome at all, listing the models that do.
        """
        models = list(self.models if models is None else models)
        unknown = [m for m in models if m not in set(self.models)]
        if unknown:
            raise TraceError(
                self.where,
                column="model",
                problem=f"no outcomes for model {unknown[0]!r}; models with outcomes: "
                f"{', '.join(self.models) or 'none'}",
            )
        wide = self.outcomes.pivot(index="request_id", columns="model", values="quality")
        wide = wide.reindex(index=self.requests["request_id"], columns=models)
        wide.columns.name = None
        return wide.astype("float64")

    def cost_matrix(self, models: Sequence[str] | None = None) -> pd.DataFrame:
        """Recorded cost in USD per request (rows, in request order) and model (columns):
        the outcomes' ``cost_usd``, the cost counterpart of :meth:`quality_matrix`; NaN = not
        recorded (never 0).

        Raises
        ------
        TraceError
            If a requested model has no outcome at all, or no recorded cost at all.
        """
        models = list(self.models if models is None else models)
        self.quality_matrix([m for m in models if m not in set(self.models)])  # raises if any
        wide = self.outcomes.pivot(index="request_id", columns="model", values="cost_usd")
        wide = wide.reindex(index=self.requests["request_id"], columns=models)
        wide.columns.name = None
        wide = wide.astype("float64")
        none = [m for m in models if wide[m].isna().all()]
        if none and self.n_requests:
            raise TraceError(
                self.where,
                column="cost_usd",
                problem=f"model {none[0]!r} has no recorded cost_usd on any request",
                hint="cost matrices need the outcomes' cost_usd (RouterBench-style data)",
            )
        return wide

    def output_tokens_matrix(self, models: Sequence[str] | None = None) -> pd.DataFrame:
        """Output tokens per request and model (NaN = unknown), in request order."""
        models = list(self.models if models is None else models)
        wide = self.outcomes.pivot(index="request_id", columns="model", values="output_tokens")
        wide = wide.reindex(index=self.requests["request_id"], columns=models)
        wide.columns.name = None
        return wide.astype("float64")

    def has_tag(self, tag: str) -> np.ndarray:
        """Boolean array: which requests carry constraint tag ``tag`` (e.g. ``'sensitive'``)."""
        tags = self.requests["tags"].fillna("").astype(str)
        return np.array([tag in t.split(TAG_SEPARATOR) for t in tags], dtype=bool)

    # -- derived traces --------------------------------------------------------------------
    def replace(self, **changes: Any) -> Trace:
        """A new, re-validated trace with some parts replaced (requests, outcomes, scores, meta)."""
        parts = {
            "requests": self.requests,
            "outcomes": self.outcomes,
            "scores": self.scores,
            "meta": dict(self.meta),
            "where": self.where,
        }
        parts.update(changes)
        return Trace(**parts)

    def with_scores(self, scores: pd.DataFrame | Mapping[str, Sequence[float]]) -> Trace:
        """Attach classifier scores (aligned by ``request_id`` if given, else by position)."""
        df = pd.DataFrame(scores).copy()
        if "request_id" in df.columns:
            df["request_id"] = df["request_id"].astype("string")
            indexed = df.set_index("request_id")
            check_rows(
                ~isin_strings(self.requests["request_id"], indexed.index),
                where=f"{self.where} (scores)",
                column="request_id",
                problem=lambda i, n: (
                    f"no score for request "
                    f"{self.requests['request_id'].iloc[i]!r} ({n} requests without scores)"
                ),
            )
            df = indexed.loc[self.requests["request_id"]].reset_index()
        else:
            df.insert(0, "request_id", self.requests["request_id"].to_numpy())
        if self.scores is not None:
            keep = self.scores.drop(
                columns=[c for c in df.columns if c != "request_id"], errors="ignore"
            )
            df = keep.merge(df, on="request_id", how="left", sort=False)
        return self.replace(scores=df)

    def subset(self, mask: np.ndarray | pd.Series) -> Trace:
        """The requests selected by a boolean mask, with their outcomes and scores."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.n_requests,):
            raise ValueError(
                f"mask must have one entry per request ({self.n_requests}), got {mask.shape}"
            )
        req = self.requests[mask].reset_index(drop=True)
        keep = isin_strings(self.outcomes["request_id"], req["request_id"])
        scores = None if self.scores is None else self.scores[mask].reset_index(drop=True)
        return self.replace(
            requests=req, outcomes=self.outcomes[keep].reset_index(drop=True), scores=scores
        )

    def __repr__(self) -> str:
        return (
            f"Trace({self.n_requests} requests over {self.duration_s:.1f} s, "
            f"{len(self.models)} models, {len(self.outcomes)} outcomes, where={self.where!r})"
        )
