"""outscale_cli.wire: request bodies hold what the user set, nothing else, byte for byte."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from outscale_cli.errors import UsageError
from outscale_cli.status import ExitStatus
from outscale_cli.wire import Sampling, chat_body, fim_body, response_format

# -- Sampling.check: the API's ranges -------------------------------------------------------

ACCEPTED = [
    {"temperature": 0.0},
    {"temperature": 0.7},
    {"temperature": 1.5},
    {"top_p": 1e-9},
    {"top_p": 1.0},
    {"presence_penalty": -2.0},
    {"presence_penalty": 2.0},
    {"frequency_penalty": -2.0},
    {"frequency_penalty": 2.0},
    {"max_tokens": 1},
    {"min_tokens": 0},
    {"min_tokens": 5, "max_tokens": 5},
    {"seed": 0},
    {"seed": 2**40},
    {"stop": ("\n\n", "###")},
]

REFUSED = [
    ({"temperature": -0.01}, "--temperature"),
    ({"temperature": 1.51}, "--temperature"),
    ({"temperature": math.nan}, "--temperature"),
    ({"top_p": 0.0}, "--top-p"),
    ({"top_p": -0.5}, "--top-p"),
    ({"top_p": 1.01}, "--top-p"),
    ({"top_p": math.nan}, "--top-p"),
    ({"presence_penalty": -2.01}, "--presence-penalty"),
    ({"presence_penalty": 2.01}, "--presence-penalty"),
    ({"frequency_penalty": -2.01}, "--frequency-penalty"),
    ({"frequency_penalty": 2.01}, "--frequency-penalty"),
    ({"max_tokens": 0}, "--max-tokens"),
    ({"max_tokens": -3}, "--max-tokens"),
    ({"min_tokens": -1}, "--min-tokens"),
    ({"min_tokens": 10, "max_tokens": 5}, "--min-tokens"),
    ({"seed": -1}, "--seed"),
    ({"stop": ("",)}, "--stop"),
]


@pytest.mark.parametrize("values", ACCEPTED, ids=lambda v: repr(v))
def test_values_in_range_are_accepted(values: dict[str, Any]) -> None:
    Sampling(**values).check()


@pytest.mark.parametrize(("values", "flag"), REFUSED, ids=lambda v: repr(v))
def test_values_out_of_range_are_refused_naming_the_flag(values: dict[str, Any], flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        Sampling(**values).check()
    assert flag in caught.value.message
    assert caught.value.status == ExitStatus.USAGE


def test_nothing_set_is_valid() -> None:
    Sampling().check()


# -- Sampling.fields: only what was set -----------------------------------------------------


def test_nothing_set_sends_nothing() -> None:
    assert Sampling().fields() == {}


def test_zero_values_are_sent() -> None:
    # `-t 0` (the docs' curl call) and `--seed 0` are settings, not absences.
    fields = Sampling(temperature=0.0, seed=0, min_tokens=0).fields()
    assert fields == {"temperature": 0.0, "random_seed": 0, "min_tokens": 0}


def test_every_field_under_its_api_name() -> None:
    fields = Sampling(
        temperature=0.3,
        top_p=0.9,
        max_tokens=64,
        seed=42,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        response_format={"type": "json_object"},
    ).fields()
    assert fields == {
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 64,
        "random_seed": 42,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "response_format": {"type": "json_object"},
    }


def test_seed_is_sent_as_random_seed_only() -> None:
    fields = Sampling(seed=7).fields()
    assert fields == {"random_seed": 7}


def test_one_stop_is_a_string() -> None:
    assert Sampling(stop=("\n\n",)).fields() == {"stop": "\n\n"}


def test_several_stops_are_a_list_in_order() -> None:
    assert Sampling(stop=("END", "###", "\n")).fields() == {"stop": ["END", "###", "\n"]}


def test_safe_prompt_only_when_true() -> None:
    assert "safe_prompt" not in Sampling(safe_prompt=False).fields()
    assert Sampling(safe_prompt=True).fields() == {"safe_prompt": True}


def test_fields_never_hold_nulls() -> None:
    fields = Sampling(temperature=0.5).fields()
    assert None not in fields.values()


# -- chat_body ------------------------------------------------------------------------------


def test_chat_body_minimal() -> None:
    body = chat_body(
        "small-2409",
        "Who is the best French painter?",
        system=None,
        prefix=None,
        sampling=Sampling(),
        stream=False,
    )
    assert body == {
        "model": "small-2409",
        "messages": [{"role": "user", "content": "Who is the best French painter?"}],
    }


def test_chat_body_system_first_then_user_then_prefix_last() -> None:
    body = chat_body(
        "small-2409",
        "Summarise.",
        system="You are terse.",
        prefix="- ",
        sampling=Sampling(),
        stream=False,
    )
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Summarise."},
        {"role": "assistant", "content": "- ", "prefix": True},
    ]


def test_chat_body_prefix_without_system() -> None:
    body = chat_body("m", "Q", system=None, prefix="A:", sampling=Sampling(), stream=False)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert body["messages"][-1]["prefix"] is True


def test_chat_body_user_message_carries_no_prefix_flag() -> None:
    body = chat_body("m", "Q", system="S", prefix=None, sampling=Sampling(), stream=False)
    assert all("prefix" not in m for m in body["messages"])


def test_chat_body_stream_true_only_when_streaming() -> None:
    streamed = chat_body("m", "Q", system=None, prefix=None, sampling=Sampling(), stream=True)
    plain = chat_body("m", "Q", system=None, prefix=None, sampling=Sampling(), stream=False)
    assert streamed["stream"] is True
    assert "stream" not in plain


def test_chat_body_carries_the_sampling_fields() -> None:
    sampling = Sampling(temperature=0.0, stop=("a", "b"), seed=1, safe_prompt=True)
    body = chat_body("m", "Q", system=None, prefix=None, sampling=sampling, stream=False)
    assert body["temperature"] == 0.0
    assert body["stop"] == ["a", "b"]
    assert body["random_seed"] == 1
    assert body["safe_prompt"] is True


@pytest.mark.parametrize("stream", [True, False])
def test_chat_body_never_sends_rejected_fields(stream: bool) -> None:
    body = chat_body("m", "Q", system=None, prefix=None, sampling=Sampling(), stream=stream)
    for rejected in ("stream_options", "max_completion_tokens", "store", "tools", "seed"):
        assert rejected not in body


def test_chat_prompt_is_sent_unchanged() -> None:
    prompt = "  line one\n\n\tline two\n"
    body = chat_body("m", prompt, system=None, prefix=None, sampling=Sampling(), stream=False)
    assert body["messages"][0]["content"] == prompt


# -- fim_body -------------------------------------------------------------------------------

CODE_PROMPT = "def count_words_in_file(file_path: str) -> int:\n    \t\n"
CODE_SUFFIX = "\n\n    return n_words\n\n\n"


def test_fim_body_keeps_prompt_and_suffix_byte_for_byte() -> None:
    body = fim_body(
        "codestral-2405", CODE_PROMPT, suffix=CODE_SUFFIX, sampling=Sampling(), stream=False
    )
    assert body == {"model": "codestral-2405", "prompt": CODE_PROMPT, "suffix": CODE_SUFFIX}
    encoded = json.dumps(body, ensure_ascii=False).encode()
    assert json.loads(encoded)["prompt"].encode() == CODE_PROMPT.encode()


@pytest.mark.parametrize("text", [" ", "\n", "x  \r\n", "\u00a0\u2028é\n\n"])
def test_fim_body_whitespace_only_and_unusual_whitespace_survive(text: str) -> None:
    body = fim_body("m", text, suffix=text, sampling=Sampling(), stream=False)
    assert body["prompt"] == text and body["suffix"] == text


def test_fim_body_without_suffix_sends_none() -> None:
    body = fim_body("m", "x = ", suffix=None, sampling=Sampling(), stream=False)
    assert "suffix" not in body


def test_fim_body_stream_and_sampling() -> None:
    body = fim_body(
        "m",
        "x = ",
        suffix=None,
        sampling=Sampling(max_tokens=16, min_tokens=1, stop=("\n",)),
        stream=True,
    )
    assert body == {
        "model": "m",
        "prompt": "x = ",
        "max_tokens": 16,
        "min_tokens": 1,
        "stop": "\n",
        "stream": True,
    }


# -- response_format ------------------------------------------------------------------------


def test_no_response_format_by_default() -> None:
    assert response_format(False, None) is None


def test_json_mode() -> None:
    assert response_format(True, None) == {"type": "json_object"}


def test_json_schema_named_after_the_file_stem(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    path = tmp_path / "painter.json"
    path.write_text(json.dumps(schema))
    assert response_format(False, path) == {
        "type": "json_schema",
        "json_schema": {"name": "painter", "schema": schema, "strict": True},
    }


def test_json_schema_name_keeps_only_allowed_characters(tmp_path: Path) -> None:
    path = tmp_path / "my schema.v2.json"
    path.write_text("{}")
    result = response_format(False, path)
    assert result is not None
    name = result["json_schema"]["name"]
    assert name.startswith("my")
    assert all(c.isalnum() or c in "_-" for c in name)


def test_json_schema_invalid_json_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"type": "object",')
    with pytest.raises(UsageError) as caught:
        response_format(False, path)
    assert "broken.json" in caught.value.message


def test_json_schema_that_is_not_an_object_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(UsageError):
        response_format(False, path)


def test_json_schema_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        response_format(False, tmp_path / "absent.json")
    assert "absent.json" in caught.value.message


def test_json_mode_and_schema_together_are_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{}")
    with pytest.raises(UsageError) as caught:
        response_format(True, path)
    assert "--json-mode" in caught.value.message and "--json-schema" in caught.value.message
