"""GPU embedding throughput: every MMLU + GSM8K prompt of the bundled trace, cold cache,
sentence-transformers' plain ``encode`` against simkit's pipeline, in one call.

Self-contained: run it from the repository root on a CUDA machine::

    python benchmarks/gpu_embed_throughput.py [--repeats 3] [--batch 512]

Steps: load the bundled all-MiniLM-L6-v2 (offline), take the 15,344 prompts of
``traces/routellm_azure`` (RouteLLM's decontaminated MMLU + GSM8K), check correctness of the
GPU fp16 embeddings against CPU fp32 ``SentenceTransformer.encode`` on a seeded sample
(cosine similarity), then time, with the embedding cache off and after a warm-up:

* ``st-encode``   ``SentenceTransformer.encode`` (fp16 model, batch ``--batch``)
* ``simkit``      ``SentenceEmbedder(device="cuda").embed`` end to end: length-sorted
                  batches, tokenisation in a background thread overlapped with the GPU,
                  pinned transfers, fp16 forward, mean pooling, one copy back
* ``tokenize``    the fast tokenizer alone on all prompts (the CPU share of the work)
* ``forward``     the model's forward passes alone on pre-tokenised, pre-padded batches

Prints a table and JSON. Without CUDA it says so, prints JSON with ``"cuda": false`` and
exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=str(REPO / "traces" / "routellm_azure"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--check", type=int, default=512, help="prompts checked against the CPU")
    ap.add_argument(
        "--dry-run-cpu",
        type=int,
        default=0,
        metavar="N",
        help="exercise the whole script on the CPU with N prompts (a smoke test, no GPU)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    dev = "cpu" if args.dry_run_cpu else "cuda"
    if not args.dry_run_cpu and not torch.cuda.is_available():
        print("no CUDA device found: this benchmark needs an NVIDIA GPU; nothing was measured")
        print(json.dumps({"cuda": False, "torch": torch.__version__}))
        return 0

    from sentence_transformers import SentenceTransformer

    from simkit.classify.embed import SentenceEmbedder, load_tokenizer, resolve_model_path
    from simkit.trace import load_trace

    prompts = [str(p) for p in load_trace(args.trace).requests["prompt"]]
    if args.dry_run_cpu:
        prompts = prompts[: args.dry_run_cpu]
    n = len(prompts)
    path = resolve_model_path(None)
    device_name = "cpu (dry run)" if args.dry_run_cpu else torch.cuda.get_device_name(0)

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    # --- correctness: GPU fp16 pipeline vs CPU fp32 sentence-transformers -----------------
    rng = np.random.default_rng(0)
    sample = [prompts[i] for i in rng.choice(n, size=min(args.check, n), replace=False)]
    cpu_ref = SentenceTransformer(str(path), device="cpu").encode(sample, batch_size=64)
    ours = SentenceEmbedder(device=dev, cache_dir=False, progress=False, batch_size=args.batch)
    ours.fit()
    gpu = ours.embed(sample).vectors
    cos = (gpu * cpu_ref).sum(1) / np.linalg.norm(gpu, axis=1) / np.linalg.norm(cpu_ref, axis=1)

    # --- timings --------------------------------------------------------------------------
    st = SentenceTransformer(str(path), device=dev)
    if dev == "cuda":
        st.half()

    def st_encode() -> None:
        st.encode(prompts, batch_size=args.batch, convert_to_numpy=True, show_progress_bar=False)

    def simkit_embed() -> None:
        emb = SentenceEmbedder(device=dev, cache_dir=False, progress=False, batch_size=args.batch)
        emb.fit()
        emb.__dict__["_encoder_obj"] = ours._encoder()  # the loaded model; cache stays off
        emb.embed(prompts)

    tok = load_tokenizer(path, 256)

    def tokenize() -> None:
        tok.encode_batch(prompts)

    enc = ours._encoder()
    order = np.argsort([-len(p) for p in prompts], kind="stable")
    encs = tok.encode_batch([prompts[i] for i in order])
    batches = []
    for b0 in range(0, n, args.batch):
        part = encs[b0 : b0 + args.batch]
        lens = np.array([len(e.ids) for e in part])
        ids = np.zeros((len(part), lens.max()), dtype=np.int64)
        for r, e in enumerate(part):
            ids[r, : lens[r]] = e.ids
        mask = (np.arange(ids.shape[1])[None, :] < lens[:, None]).astype(np.int64)
        batches.append((torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev)))

    def forward() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                enc.model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        sync()

    def timed(fn) -> list[float]:
        fn()  # warm-up (CUDA kernels, allocator)
        sync()
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - t0)
        return out

    rows = {}
    for name, fn in (
        ("st-encode", st_encode),
        ("simkit", simkit_embed),
        ("tokenize", tokenize),
        ("forward", forward),
    ):
        secs = timed(fn)
        med = float(np.median(secs))
        rows[name] = {"median_s": med, "prompts_per_s": n / med, "runs_s": secs}

    print(f"{device_name}: {n} prompts, batch {args.batch}, median of {args.repeats} runs")
    print(f"{'path':<10} {'seconds':>9} {'prompts/s':>11}")
    for name, r in rows.items():
        print(f"{name:<10} {r['median_s']:9.3f} {r['prompts_per_s']:11.0f}")
    print(f"correctness vs CPU fp32 ({len(sample)} prompts): min cosine {cos.min():.6f}, "
          f"mean {cos.mean():.6f}")  # fmt: skip
    payload = {
        "cuda": dev == "cuda",
        "device": device_name,
        "n_prompts": n,
        "batch": args.batch,
        "rows": rows,
        "goal_prompts_per_s": 20000,
        "simkit_meets_goal": rows["simkit"]["prompts_per_s"] >= 20000,
        "check": {
            "n": len(sample),
            "min_cosine": float(cos.min()),
            "mean_cosine": float(cos.mean()),
        },
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    print(json.dumps(payload, indent=1))
    return 0 if cos.min() > 0.999 else 1


if __name__ == "__main__":
    raise SystemExit(main())
