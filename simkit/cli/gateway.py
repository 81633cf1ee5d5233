"""``simkit gateway serve|hash-key``: run the OpenAI-compatible routing gateway; hash client keys."""

from __future__ import annotations

import argparse
import sys

_SERVE_EPILOG = """examples:
  simkit gateway hash-key --new                 # a new client key and the line for api_keys
  simkit gateway serve --bundle classifiers/routellm-static-minilm --config gateway.yaml
  simkit gateway serve --bundle my_bundle --config gateway.yaml --port 8080 --workers 2

then, with the key:
  curl http://127.0.0.1:8080/v1/chat/completions -H "Authorization: Bearer $KEY" \\
      -d '{"model": "router", "messages": [{"role": "user", "content": "hi"}]}'
  simkit trace convert decisions.jsonl gw_trace --format gateway-log   # the decision log

the config (gateway.yaml) is documented in simkit.gateway.config.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gateway",
        help="run the router as an OpenAI-compatible gateway",
        description="The exported bundle in production: an OpenAI-compatible server that "
        "routes each request to a tier's upstream and logs its decisions as a trace.",
    )
    gsub = p.add_subparsers(dest="gateway_command", metavar="GATEWAY_COMMAND")
    gsub.required = True
    s = gsub.add_parser(
        "serve",
        help="serve /v1/chat/completions, /v1/models, /healthz and /metrics",
        description="Check the bundle and the config, then serve until Ctrl-C. A bundle "
        "that fails verification or a config that does not fit it stops the start with the "
        "reason.",
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--bundle", required=True, help="a classifier bundle directory")
    s.add_argument(
        "--bundle-sha256",
        default=None,
        metavar="HEX",
        help="refuse to start unless the bundle's digest (sha256 of its SHA256SUMS) is HEX",
    )
    s.add_argument("--config", required=True, help="gateway.yaml (upstreams, keys, log)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    s.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    s.set_defaults(func=_run_serve)
    h = gsub.add_parser(
        "hash-key",
        help="print the hash of a client key for the config's api_keys",
        description="Read a key from standard input (so it stays out of the shell history) "
        "and print its 'sha256:...' form, or make a new key with --new.",
    )
    h.add_argument("--new", action="store_true", help="make a new random key and print both")
    h.set_defaults(func=_run_hash)


def _run_serve(args: argparse.Namespace) -> int:
    from simkit.errors import SpecError
    from simkit.gateway.server import serve

    if args.workers < 1:
        raise SpecError("--workers", problem=f"must be >= 1, got {args.workers}")
    serve(
        args.bundle,
        args.config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        bundle_sha256=args.bundle_sha256,
    )
    return 0


def _run_hash(args: argparse.Namespace) -> int:
    from simkit.errors import SpecError
    from simkit.gateway.auth import hash_api_key, new_api_key

    if args.new:
        key = new_api_key()
        print(f"key:   {key}")
        print(f"store: {hash_api_key(key)}")
        return 0
    key = sys.stdin.readline().strip()
    if not key:
        raise SpecError("<stdin>", problem="no key given: pipe the key in, or use --new")
    print(hash_api_key(key))
    return 0
