"""Fleet specs: hosted APIs and self-hosted GPU servers as frozen, validated data; the price
catalog; GPU presets; the token-bucket rate-limit model. No SimPy here."""

from simkit.fleet.load import default_fleet_path, load_fleet
from simkit.fleet.presets import GPU_PRESETS
from simkit.fleet.prices import ModelPrice, PriceCatalog, load_price_overrides
from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer, Jitter, RateLimit, RetryPolicy, Tier

__all__ = [
    "GPU_PRESETS",
    "ApiEndpoint",
    "Fleet",
    "GpuServer",
    "Jitter",
    "ModelPrice",
    "PriceCatalog",
    "RateLimit",
    "RetryPolicy",
    "Tier",
    "default_fleet_path",
    "load_fleet",
    "load_price_overrides",
]
