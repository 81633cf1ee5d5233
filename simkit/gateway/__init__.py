"""The router in production: an OpenAI-compatible routing server, a LiteLLM plugin, and a
decision log that reads back as a trace.

Imported by name (``import simkit.gateway``); only the CLI imports it inside simkit.

=============================  ===============================================================
``create_app``                 the Starlette application (``simkit gateway serve`` runs it)
``load_gateway_config``        ``gateway.yaml`` -> :class:`GatewayConfig`, checked against a bundle
``hash_api_key``               the stored form of a client key
``DecisionLog``                the crash-safe JSON-lines decision log
``serve``                      load, check and run the gateway on uvicorn
``GatewayServer``              a gateway in a background thread on 127.0.0.1 (tests, notebooks)
=============================  ===============================================================

The LiteLLM plugin is :mod:`simkit.gateway.litellm` (extra ``simkit[litellm]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from simkit.gateway.auth import hash_api_key, new_api_key
from simkit.gateway.config import GatewayConfig, load_gateway_config
from simkit.gateway.decisions import DecisionLog

if TYPE_CHECKING:  # what static analysis and IDEs see; at run time __getattr__ loads them
    from simkit.gateway.app import create_app
    from simkit.gateway.server import GatewayServer, serve

__all__ = [
    "DecisionLog",
    "GatewayConfig",
    "GatewayServer",
    "create_app",
    "hash_api_key",
    "load_gateway_config",
    "new_api_key",
    "serve",
]

#: name -> module of the parts that import starlette, uvicorn and openai (loaded on first use)
_WHERE = {"create_app": "app", "GatewayServer": "server", "serve": "server"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simkit.gateway' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simkit.gateway.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
