"""GPU server presets for Llama-3-8B and Llama-3-70B from public profiles.

Every number comes from ``shared/reference/SERVING.md`` (sources cited there):

* ``t_floor_s`` and ``x_sat_tokens_per_s`` — §3.4 table, derived from Vidur's per-operator
  profiles (microsoft/vidur @7d47513 ``data/profiling/compute/{a100,h100}/<model>/mlp.csv``):
  T_floor = linear-op time of a forward pass with <= 32 tokens, X_sat = slope between 2,048 and
  4,096 tokens. Vidur has no Llama-3 H100 profile: the H100 presets scale the Llama-2 rows by
  1.07 (8B) and 1.0 (70B), as §3.4 recommends.
* ``beta_s_per_ctx_token`` — §3.4 derived roofline, ``kv_bytes_per_token / (TP * HBM_BW)``
  (8B A100 64 ns, 8B H100 43 ns, 70B TP4 A100 40 ns, 70B TP4 H100 27 ns; 70B TP8 H100 =
  27 ns x 4/8 = 13.5 ns).
* ``t_ovh_s`` — §3.1: two all-reduces per layer at 0.03–0.05 ms each on A100/H100 DGX (Vidur
  network profiles): 0.04 ms x 2 x 80 layers = 6.4 ms for 70B with TP > 1; plus 1 ms of
  CPU/sampler time per step (our assumption; calibrate against a real run).
* ``kv_capacity_tokens`` — §3.5 derived capacity at ``gpu_memory_utilization`` 0.9 (8B on one
  80 GB GPU ~427k tokens; 70B TP4 ~449k; 70B TP8 ~1.33M) times **0.8**, because real vLLM
  holds ~20–25 % less than that upper bound (LLMServingSim's RTX 4090 case: 41,408 measured vs
  54,400 modelled).
* ``max_num_seqs`` 128 and ``max_batched_tokens`` 2,048 — vLLM/LLMServingSim defaults (§3.1).
* ``context_window`` 8,192 — Llama 3's context length (``max_position_embeddings`` 8192 in
  the Meta-Llama-3-8B/70B-Instruct ``config.json``; vLLM's default ``max_model_len``). It is a
  :class:`~simkit.fleet.spec.Tier` setting, not a server one: it is in
  :data:`PRESET_CONTEXT_WINDOWS`, which the loader reads.

The analytic model is unvalidated against a real server (§3.7); treat outputs as estimates.
The rental price is *not* part of a preset: give ``usd_per_gpu_hour`` in the fleet spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["GPU_PRESETS", "PRESET_CONTEXT_WINDOWS"]

_DEFAULTS = {"max_num_seqs": 128, "max_batched_tokens": 2048}

#: preset name -> GpuServer keyword arguments (everything but the price and replica count).
GPU_PRESETS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "llama3-8b-a100-tp1": MappingProxyType(
            {
                **_DEFAULTS,
                "model": "meta-llama/Meta-Llama-3-8B-Instruct",
                "gpus_per_replica": 1,
                "t_floor_s": 10.1e-3,  # §3.4: Meta-Llama-3-8B A100 TP1 floor 10.1 ms
                "x_sat_tokens_per_s": 16_000.0,  # §3.4: X_sat 16,000 tok/s
                "beta_s_per_ctx_token": 64e-9,  # §3.4: 64 ns
                "t_ovh_s": 1.0e-3,  # TP1: no all-reduce; 1 ms CPU/sampler (assumption)
                "kv_capacity_tokens": 341_000,  # §3.5: 427k x 0.8
            }
        ),
        "llama3-8b-h100-tp1": MappingProxyType(
            {
                **_DEFAULTS,
                "model": "meta-llama/Meta-Llama-3-8B-Instruct",
                "gpus_per_replica": 1,
                "t_floor_s": 6.0e-3,  # §3.4: Llama-2-7b H100 5.6 ms x 1.07
                "x_sat_tokens_per_s": 44_400.0,  # §3.4: 47,500 / 1.07
                "beta_s_per_ctx_token": 43e-9,  # §3.4: 43 ns
                "t_ovh_s": 1.0e-3,
                "kv_capacity_tokens": 341_000,  # §3.5: 427k x 0.8 (80 GB, same as A100-80G)
            }
        ),
        "llama3-70b-a100-tp4": MappingProxyType(
            {
                **_DEFAULTS,
                "model": "meta-llama/Meta-Llama-3-70B-Instruct",
                "gpus_per_replica": 4,
                "t_floor_s": 25.6e-3,  # §3.4: Meta-Llama-3-70B A100 TP4 floor 25.6 ms
                "x_sat_tokens_per_s": 6_400.0,  # §3.4: X_sat 6,400 tok/s
                "beta_s_per_ctx_token": 40e-9,  # §3.4: 40 ns
                "t_ovh_s": 7.4e-3,  # 2 x 80 layers x 0.04 ms all-reduce + 1 ms
                "kv_capacity_tokens": 359_000,  # §3.5: 449k x 0.8
            }
        ),
        "llama3-70b-h100-tp4": MappingProxyType(
            {
                **_DEFAULTS,
                "model": "meta-llama/Meta-Llama-3-70B-Instruct",
                "gpus_per_replica": 4,
                "t_floor_s": 14.8e-3,  # §3.4: Llama-2-70b H100 TP4 14.8 ms x 1.0
                "x_sat_tokens_per_s": 18_300.0,  # §3.4: 18,300 tok/s
                "beta_s_per_ctx_token": 27e-9,  # §3.4: 27 ns
                "t_ovh_s": 7.4e-3,
                "kv_capacity_tokens": 359_000,  # §3.5: 449k x 0.8
            }
        ),
        "llama3-70b-h100-tp8": MappingProxyType(
            {
                **_DEFAULTS,
                "model": "meta-llama/Meta-Llama-3-70B-Instruct",
                "gpus_per_replica": 8,
                "t_floor_s": 8.6e-3,  # §3.4: Llama-2-70b H100 TP8 8.6 ms
                "x_sat_tokens_per_s": 35_400.0,  # §3.4: 35,400 tok/s
                "beta_s_per_ctx_token": 13.5e-9,  # TP4 27 ns x 4/8
                "t_ovh_s": 7.4e-3,
                "kv_capacity_tokens": 1_064_000,  # §3.5: 1.33M x 0.8
            }
        ),
    }
)

#: preset name -> context window in tokens (prompt + answer): Llama 3's 8,192 (module notes).
PRESET_CONTEXT_WINDOWS: Mapping[str, int] = MappingProxyType(dict.fromkeys(GPU_PRESETS, 8192))
