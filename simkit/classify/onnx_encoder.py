"""Running an exported encoder graph: tokenizer + ONNX Runtime + mean pooling, one thread.

Kept apart from :mod:`simkit.classify.onnx` (which exports graphs and is a scikit-learn
transformer) so that a router scoring with an ONNX bundle imports numpy, ``tokenizers`` and
``onnxruntime`` only: no scikit-learn, pandas or torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simkit.errors import BundleError

__all__ = ["ONNX_INPUTS", "OnnxEncoder"]

#: The graph's inputs, int64 of shape (batch, tokens).
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session (one thread) + mean pooling + L2 normalisation.

    Parameters
    ----------
    graph : bytes
        The serialised ONNX graph (:func:`export_onnx_graph`).
    tokenizer_json : str
        The model's ``tokenizers`` tokenizer; it is set to truncate at ``max_seq_length``
        tokens and to add ``[CLS]``/``[SEP]``.
    max_seq_length : int
        Tokens kept per prompt (special tokens included).
    where : str
        Where the graph came from, for error messages.

    Raises
    ------
    BundleError
        If ONNX Runtime cannot read the graph (naming ``where``).
    """

    def __init__(self, graph: bytes, tokenizer_json: str, max_seq_length: int, where: str):
        import onnxruntime as ort
        import tokenizers
        from tokenizers.processors import TemplateProcessing

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise BundleError(
                f"{where}: not an ONNX graph that ONNX Runtime reads ({type(exc).__name__}: "
                f"{str(exc)[:200]}); re-export the bundle"
            ) from None
        names = sorted(i.name for i in self.session.get_inputs())
        if names != sorted(ONNX_INPUTS):
            raise BundleError(
                f"{where}: the graph's inputs are {names}, expected {sorted(ONNX_INPUTS)}"
            )
        tok = tokenizers.Tokenizer.from_str(tokenizer_json)
        tok.no_padding()
        tok.enable_truncation(int(max_seq_length))
        if tok.post_processor is None:
            cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
            tok.post_processor = TemplateProcessing(
                single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
            )
        self.tokenizer = tok
        width = self.session.get_outputs()[0].shape[-1]
        if not isinstance(width, int) or width < 1:
            raise BundleError(f"{where}: the graph's output has no fixed width ({width!r})")
        self.dim = width

    def _run(self, ids: list[int]) -> np.ndarray:
        arr = np.asarray([ids], dtype=np.int64)
        (hidden,) = self.session.run(
            None,
            {"input_ids": arr, "attention_mask": np.ones_like(arr), "token_type_ids": 0 * arr},
        )
        v = hidden[0].astype(np.float32).mean(axis=0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def encode_one(self, prompt: str) -> tuple[np.ndarray, bool]:
        """Embedding of one prompt and whether it was truncated."""
        enc = self.tokenizer.encode(prompt)
        return self._run(enc.ids), bool(enc.overflowing)

    def encode(
        self, prompts: Sequence[str], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of ``prompts`` (float32, L2-normalised) and which were truncated.

        One prompt per run, never padded into a batch: the int8 graph quantises its
        activations with scales taken over the whole input, so a padded batch would change a
        prompt's vector (by up to 0.02 here). Training and routing therefore see the same
        vector for the same prompt.
        """
        encs = self.tokenizer.encode_batch(list(prompts))
        truncated = np.fromiter((bool(e.overflowing) for e in encs), bool, count=len(encs))
        out = np.zeros((len(encs), self.dim), dtype=np.float32)
        items = encs
        if progress:  # a router scoring requests never loads tqdm
            from tqdm.auto import tqdm

            items = tqdm(encs, desc="embedding (onnx)", unit="prompt", leave=False)
        for i, e in enumerate(items):
            out[i] = self._run(e.ids)
        return out, truncated
