"""The one messages -> text convention, and the chat messages a trace's prompt is sent as.

``messages_to_text`` renders ``"<role>: <content>"`` blocks joined by a blank line, the
convention of :func:`simkit.trace.loaders.openai_logs.render_messages` (which it calls), so a
prompt counted or looked up here is the text a trace loaded from a chat log holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from simkit.trace.loaders.openai_logs import render_messages

__all__ = ["messages_to_text", "prompt_messages", "prompt_sha256", "question_text"]


def messages_to_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of a chat request: ``"<role>: <content>"`` blocks joined by a blank line."""
    return render_messages(list(messages))


def prompt_messages(prompt: str) -> list[dict[str, str]]:
    """The chat messages a trace's prompt is sent as: one user message holding the prompt."""
    return [{"role": "user", "content": prompt}]


def question_text(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """The last user message's text (the question an answer key is looked up by), or None."""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                parts = [p.get("text", "") for p in content if isinstance(p, dict)]
                return "\n".join(str(p) for p in parts if p)
    return None


def prompt_sha256(text: str) -> str:
    """SHA-256 of a prompt's UTF-8 text: how answer keys name a question."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
