"""The text of an OpenAI-style chat ``messages`` list: one convention, for training and serving.

A classifier trained on logged conversations must score the same text in production, so the
OpenAI-log loader (training data), the router and everything that serves or records requests
take the text of a message list from :func:`messages_to_text` and nowhere else.

The convention
--------------
* **The scored text is the last user message that has text**, exactly as written: a single
  user message maps to its content unchanged, which is how the shipped classifier bundles
  were trained (raw single-turn prompts, RouteLLM's convention of routing on the newest
  prompt). System, developer, assistant and tool messages are context for the model that
  answers, not for the router: they are left out, and so are earlier user turns.
* **Content** is a string, ``None`` (an assistant turn that only calls tools), or a list of
  parts. A list contributes its text parts (``{"type": "text", "text": ...}``; a bare string
  part is taken as text) joined by ``"\\n"``; other parts (``image_url``, ``input_audio``,
  ``file``...) carry no text to score. A user message whose parts are all images has no text,
  so an earlier user message with text is scored; a list with no user text at all is an error.
* :func:`conversation_text` renders the *whole* conversation (``"<role>: <content>"`` blocks
  joined by a blank line, an assistant's ``tool_calls`` appended as JSON): the text a prompt's
  token count is taken over, since the answering model reads every turn. It is never scored.

Bad input raises :class:`~simkit.errors.MessagesError` naming the message and the key
(``messages[2].content[0]``) and, in a log, the file and line. It is both a ``TraceError`` and
a ``ClassifierError``, the two families loaders and the router raise.

This module imports only the standard library and :mod:`simkit.errors`: the router imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, MutableMapping, Sequence
from os import PathLike
from typing import Any, NamedTuple

from simkit.errors import MessagesError

__all__ = ["conversation_text", "messages_to_text"]


class _Turn(NamedTuple):
    role: str
    text: str
    tool_calls: Any


class _Where(NamedTuple):
    source: str | PathLike[str] | None
    line: int | None
    key: str

    def error(self, key: str, problem: str) -> MessagesError:
        return MessagesError(self.source, line=self.line, column=key, problem=problem)


def _content_text(
    content: Any, key: str, where: _Where, non_text: MutableMapping[str, int] | None
) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, bytes) or not isinstance(content, Sequence):
        raise where.error(
            key,
            "message content must be a string, null or a list of parts, got "
            f"{type(content).__name__}",
        )
    texts = []
    for j, part in enumerate(content):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping) and part.get("type") == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise where.error(
                    f"{key}[{j}].text",
                    f"a text part needs a string 'text', got {type(text).__name__}",
                )
            texts.append(text)
        elif isinstance(part, Mapping) and isinstance(part.get("type"), str):
            if non_text is not None:
                non_text[part["type"]] = non_text.get(part["type"], 0) + 1
        else:
            raise where.error(
                f"{key}[{j}]", f"a content part must be an object with a 'type', got {part!r:.60}"
            )
    return "\n".join(texts)


def _turns(
    messages: Any, where: _Where, non_text: MutableMapping[str, int] | None = None
) -> list[_Turn]:
    """Validate ``messages`` and return each message's role, text and tool calls."""
    is_list = isinstance(messages, Sequence) and not isinstance(messages, (str, bytes))
    if not is_list or not messages:
        got = "an empty list" if is_list else type(messages).__name__
        raise where.error(
            where.key,
            f"expected a non-empty list of messages ({{'role': ..., 'content': ...}} "
            f"mappings), got {got}",
        )
    turns = []
    for i, m in enumerate(messages):
        key = f"{where.key}[{i}]"
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str):
            raise where.error(key, f"each message needs a 'role' and 'content', got {m!r:.60}")
        text = _content_text(m.get("content"), f"{key}.content", where, non_text)
        turns.append(_Turn(m["role"], text, m.get("tool_calls")))
    return turns


def messages_to_text(
    messages: Sequence[Mapping[str, Any]],
    *,
    source: str | PathLike[str] | None = None,
    line: int | None = None,
    key: str = "messages",
) -> str:
    """The text a classifier scores for a chat ``messages`` list: the last user text.

    See the module docstring for the convention. ``[{"role": "user", "content": "Hi"}]``
    gives ``"Hi"``.

    Parameters
    ----------
    messages : list of mappings
        OpenAI chat-completions ``messages``.
    source, line, key : optional
        Where the list came from, for errors: a file and line of a log, and the JSON key of
        the list (``request.messages``).

    Returns
    -------
    str
        The content of the last user message that has text, exactly as given (text parts of
        a list joined by ``"\\n"``).

    Raises
    ------
    MessagesError
        ``messages`` is not a non-empty list of mappings with a string ``role``; a content is
        neither a string, null nor a list of typed parts; or no user message has text.
    """
    where = _Where(source, line, key)
    turns = _turns(messages, where)
    for turn in reversed(turns):
        if turn.role == "user" and turn.text.strip():
            return turn.text
    raise where.error(
        key,
        f"no user message with text among {len(turns)} messages (the text scored is the last "
        "user message that has text)",
    )


def conversation_text(
    messages: Sequence[Mapping[str, Any]],
    *,
    source: str | PathLike[str] | None = None,
    line: int | None = None,
    key: str = "messages",
    non_text: MutableMapping[str, int] | None = None,
) -> str:
    """Every turn of ``messages`` as ``"<role>: <content>"`` blocks joined by a blank line.

    The text a whole request's tokens are counted over (the answering model reads every
    turn); not what a classifier scores (:func:`messages_to_text`). An assistant's
    ``tool_calls`` are appended as JSON.

    Parameters
    ----------
    messages, source, line, key
        As :func:`messages_to_text`.
    non_text : mutable mapping, optional
        Incremented per part type left out of the text (``{"image_url": 1}``).

    Raises
    ------
    MessagesError
        As :func:`messages_to_text`, except that no user text is needed.
    """
    blocks = []
    for turn in _turns(messages, _Where(source, line, key), non_text):
        text = turn.text
        if turn.tool_calls:
            text += ("\n" if text else "") + json.dumps(turn.tool_calls, sort_keys=True)
        blocks.append(f"{turn.role}: {text}")
    return "\n\n".join(blocks)
