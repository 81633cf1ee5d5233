"""A minimal Starlette SSE chat-completions server: the calibration point of bench_live.py.

What issue 12's calibration describes: the least a server can do to answer an OpenAI
streaming request (parse the JSON body, stream ``--tokens`` one-token chunks, the usage chunk
and ``[DONE]``, each chunk its own SSE event and its own body write) on uvicorn with uvloop and
httptools, no access log, TCP_NODELAY. No answer key, no faults, no request log, no token
counting: the floor our stub (:mod:`simkit.live.stub`) is compared against.

Run: ``python benchmarks/minimal_sse_stub.py [--port 0] [--tokens 16]``; it prints
``minimal stub listening on http://127.0.0.1:PORT/v1`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route


def make_app(tokens: int) -> Starlette:
    """The app: ``POST /v1/chat/completions`` (streaming only)."""
    words = [f" w{i}" for i in range(tokens)]

    async def chat(request: Request) -> StreamingResponse:
        req = json.loads(await request.body())
        model = req["model"]
        created = int(time.time())

        def chunk(delta: dict, finish: str | None, usage: dict | None = None) -> bytes:
            body = {
                "id": "chatcmpl-min",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage:
                body["usage"] = usage
            return b"data: " + json.dumps(body).encode() + b"\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""}, None)
            for w in words:
                yield chunk({"content": w}, None)
            yield chunk({}, "stop")
            usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens}
            yield chunk({}, None, usage)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tokens", type=int, default=16)
    args = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(
        make_app(args.tokens),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        backlog=4096,
    )
    print(f"minimal stub listening on http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
