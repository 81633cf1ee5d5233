"""How a trace's prompt is sent, and which text of a message list is looked up and counted.

The one convention lives in :mod:`simkit.trace.messages`: :func:`messages_to_text` (the last
user text: what an answer key is looked up by, as the router scores it) and
:func:`conversation_text` (every turn as ``"<role>: <content>"`` blocks: what a request's
prompt tokens are counted over, by the recorder's budget and by the stub's usage alike).
"""

from __future__ import annotations

import hashlib

from simkit.trace.messages import conversation_text, messages_to_text

__all__ = ["conversation_text", "messages_to_text", "prompt_messages", "prompt_sha256"]


def prompt_messages(prompt: str) -> list[dict[str, str]]:
    """The chat messages a trace's prompt is sent as: one user message holding the prompt."""
    return [{"role": "user", "content": prompt}]


def prompt_sha256(text: str) -> str:
    """SHA-256 of a prompt's UTF-8 text: how answer keys name a question."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
