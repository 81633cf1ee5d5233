"""messages -> text: one convention for the loader (training data) and the router (serving)."""

from __future__ import annotations

import pytest

from simkit.errors import ClassifierError, MessagesError, TraceError
from simkit.trace.messages import conversation_text, messages_to_text

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me a joke."},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function"}]},
    {"role": "tool", "content": "42"},
    {"role": "user", "content": [
        {"type": "text", "text": "How many primes"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "are below 30?"},
    ]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "y"}}]},
]  # fmt: skip


def test_a_single_user_message_is_its_content_exactly():
    """The shipped bundle was trained on raw prompts: one user turn must score as trained."""
    text = "  Compute 17 * 23.\n\nShow your work.  "
    assert messages_to_text([{"role": "user", "content": text}]) == text
    assert messages_to_text([{"role": "system", "content": "Be brief."}, {"role": "user",
                             "content": text}]) == text  # fmt: skip


def test_the_last_user_message_with_text_is_scored_text_parts_joined_by_newline():
    # the trailing image-only user turn has no text: the turn before it is scored
    assert messages_to_text(CHAT) == "How many primes\nare below 30?"
    assert messages_to_text(CHAT[:2]) == "Tell me a joke."
    assert messages_to_text([{"role": "user", "content": ["bare", {"type": "text", "text": "x"}]}])


def test_conversation_text_renders_every_turn_and_counts_non_text_parts():
    seen: dict[str, int] = {}
    text = conversation_text(CHAT, non_text=seen)
    assert text == (
        "system: You are terse.\n\nuser: Tell me a joke.\n\n"
        'assistant: [{"id": "t1", "type": "function"}]\n\ntool: 42\n\n'
        "user: How many primes\nare below 30?\n\nuser: "
    )
    assert seen == {"image_url": 2}
    # no user text is needed to count a conversation's tokens
    assert conversation_text([{"role": "system", "content": "hi"}]) == "system: hi"


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ("hello", "column 'messages': expected a non-empty list of messages ({'role': ..., "
                  "'content': ...} mappings), got str"),
        ([], "column 'messages': expected a non-empty list of messages ({'role': ..., "
             "'content': ...} mappings), got an empty list"),
        ([{"content": "x"}], "column 'messages[0]': each message needs a 'role' and 'content', "
                             "got {'content': 'x'}"),
        ([{"role": "user", "content": 5}], "column 'messages[0].content': message content must "
                                           "be a string, null or a list of parts, got int"),
        ([{"role": "user", "content": b"x"}], "column 'messages[0].content': message content "
                                              "must be a string, null or a list of parts, got "
                                              "bytes"),
        ([{"role": "user", "content": [{"text": "x"}]}], "column 'messages[0].content[0]': a "
                                                         "content part must be an object with a "
                                                         "'type', got {'text': 'x'}"),
        ([{"role": "user", "content": [{"type": "text", "text": None}]}],
         "column 'messages[0].content[0].text': a text part needs a string 'text', got NoneType"),
        ([{"role": "assistant", "content": "hi"}], "column 'messages': no user message with text "
                                                   "among 1 messages (the text scored is the last "
                                                   "user message that has text)"),
        ([{"role": "user", "content": "   "}], "column 'messages': no user message with text"),
    ],
)  # fmt: skip
def test_bad_message_lists_name_the_key(messages, message):
    with pytest.raises(MessagesError) as err:
        messages_to_text(messages)
    assert str(err.value).startswith(message)
    # one error for both callers: a log loader catches TraceError, a router user ClassifierError
    assert isinstance(err.value, TraceError) and isinstance(err.value, ClassifierError)


def test_errors_name_the_file_line_and_key_path_given():
    with pytest.raises(MessagesError) as err:
        messages_to_text(
            [{"role": "user", "content": [{"bad": 1}]}],
            source="logs/gw.jsonl",
            line=7,
            key="request.messages",
        )
    assert str(err.value) == (
        "logs/gw.jsonl, line 7, column 'request.messages[0].content[0]': a content part must be "
        "an object with a 'type', got {'bad': 1}"
    )


def test_the_module_imports_only_the_standard_library_and_errors():
    """The router imports it, and ``import simkit.router`` must not load pandas or pyarrow."""
    import ast
    import sys

    import simkit.trace.messages as module

    tree = ast.parse(open(module.__file__, encoding="utf-8").read())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    top = {n.split(".")[0] for n in names} - {"__future__", "simkit"}
    assert top <= set(sys.stdlib_module_names), top
    assert {n for n in names if n.startswith("simkit")} == {"simkit.errors"}
