"""The router in production: an OpenAI-compatible routing server, a LiteLLM plugin, and a
decision log that reads back as a trace.

Imported by name (``import simkit.gateway``); only the CLI imports it inside simkit.

=============================  ===============================================================
``create_app``                 the Starlette application (``simkit gateway serve`` runs it)
``load_gateway_config``        ``gateway.yaml`` -> :class:`GatewayConfig`, checked against a bundle
``hash_api_key``               the stored form of a client key
``DecisionLog``                the crash-safe JSON-lines decision log
``serve``                      load, check and run the gateway on uvicorn
=============================  ===============================================================

The LiteLLM plugin is :mod:`simkit.gateway.litellm` (extra ``simkit[litellm]``).
"""

from simkit.gateway.auth import hash_api_key, new_api_key
from simkit.gateway.config import GatewayConfig, load_gateway_config
from simkit.gateway.decisions import DecisionLog

__all__ = [
    "DecisionLog",
    "GatewayConfig",
    "create_app",
    "hash_api_key",
    "load_gateway_config",
    "new_api_key",
    "serve",
]


def __getattr__(name: str):  # the server parts import starlette/openai only when used
    if name == "create_app":
        from simkit.gateway.app import create_app

        return create_app
    if name == "serve":
        from simkit.gateway.server import serve

        return serve
    raise AttributeError(f"module 'simkit.gateway' has no attribute {name!r}")
