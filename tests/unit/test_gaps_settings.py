"""Gaps found by mutation testing in outscale_cli/settings.py: server URL forms, the value
types' refusals, where each setting came from, and `config show`'s description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from outscale_cli.errors import ConfigError, UsageError
from outscale_cli.settings import load_settings, normalise_server_url, redact_url, url_password


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://vm.test:5000/v1/v1", "http://vm.test:5000"),
        ("http://vm.test:5000/v1/v1/", "http://vm.test:5000"),
        ("http://vm.test:5000/v1//v1", "http://vm.test:5000"),
        ("https://gw.test/mistral/v1/v1", "https://gw.test/mistral"),
        ("https://gw.test/v1/mistral", "https://gw.test/v1/mistral"),
    ],
)
def test_every_trailing_v1_is_dropped(raw: str, expected: str) -> None:
    assert normalise_server_url(raw) == expected


def test_a_doubled_v1_never_reaches_the_wire(httpx_mock: HTTPXMock) -> None:
    import io

    from outscale_cli.client import Client
    from outscale_cli.console import Environment

    httpx_mock.add_response(url="http://vm.test:5000/v1/models", json={"data": []})
    settings = load_settings({"server_url": "http://vm.test:5000/v1/v1/"}, {})
    env = Environment(io.StringIO(), io.StringIO(), io.StringIO(), False, False, False, False)
    with Client(settings, env, 0) as client:
        client.get_json("models")
    assert str(httpx_mock.get_requests()[0].url) == "http://vm.test:5000/v1/models"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "it is empty"),
        ("ftp://h", "the scheme must be http or https, not 'ftp'"),
        ("http://", "it names no host"),
        ("http://bad_host!:5000", "'bad_host!' is not a host name or address"),
        ("http://h:99999", "its port is not a number from 0 to 65535"),
    ],
)
def test_bad_server_urls_say_why(raw: str, why: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise_server_url(raw)
    assert str(caught.value) == why


@pytest.mark.parametrize(
    "raw",
    ["http://vm.test:5000", "http://[::1]:8000", "http://vm_1.test", "http://a", "http://h-1.x"],
)
def test_good_hosts_are_accepted(raw: str) -> None:
    assert normalise_server_url(raw) == raw


def test_a_url_keeps_its_scheme_host_and_port_only() -> None:
    assert normalise_server_url("HTTPS://Host.test:443/p/?q=1#f") == "https://Host.test:443/p"


# -- passwords in URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:pw@h:1/p?q=1", "http://u:********@h:1/p?q=1"),
        ("http://:pw@h", "http://:********@h"),
        ("http://u@h", "http://u@h"),
        ("http://h/a@b", "http://h/a@b"),
        (None, None),
        ("", ""),
    ],
)
def test_redact_url(url: str | None, shown: str | None) -> None:
    assert redact_url(url) == shown


def test_url_password() -> None:
    assert url_password("http://u:pw@h") == "pw"
    assert url_password("http://h") is None
    assert url_password(None) is None


# -- the values each setting takes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"proxy": "socks5://p:1080"}, "invalid value 'socks5://p:1080' for --proxy: it must be"),
        ({"proxy": "http://"}, "invalid value 'http://' for --proxy: it must be an http"),
        ({"model": "  "}, "invalid value '  ' for --model: it is empty; expected a model id"),
        ({"model": "a\tb"}, "invalid value 'a\\tb' for --model: it holds control characters"),
        ({"model": "a\x7fb"}, "invalid value 'a\\x7fb' for --model: it holds control characters"),
        ({"ca_bundle": "/no/such/file"}, "invalid value '/no/such/file' for --ca-bundle: no such"),
        ({"timeout": 0.0}, "invalid value '0.0' for --timeout: expected a number of seconds"),
        ({"timeout": 1_000_001.0}, "invalid value '1000001.0' for --timeout: expected a number"),
        ({"retries": 101}, "invalid value '101' for --retries: expected a whole number, 0 or"),
        ({"retries": -1}, "invalid value '-1' for --retries: expected a whole number"),
    ],
)
def test_bad_flag_values_name_the_flag(flags: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings(flags, {})
    assert caught.value.message.startswith(message)


@pytest.mark.parametrize(
    ("flags", "field", "value"),
    [
        ({"timeout": 1_000_000.0}, "timeout", 1_000_000.0),
        ({"retries": 100}, "retries", 100),
        ({"retries": 0}, "retries", 0),
        ({"model": " m "}, "model", "m"),
        ({"proxy": " https://p:3128 "}, "proxy", "https://p:3128"),
    ],
)
def test_values_at_the_edges_are_accepted(flags: dict[str, Any], field: str, value: Any) -> None:
    assert getattr(load_settings(flags, {}), field) == value


def test_a_file_path_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_text("x")
    assert load_settings({"ca_bundle": " ~/ca.pem "}, {}).ca_bundle == str(tmp_path / "ca.pem")


def test_a_bad_variable_names_itself_and_hides_a_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"OUTSCALE_RETRIES": "many"})
    assert caught.value.message.startswith("invalid value 'many' in OUTSCALE_RETRIES: expected")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"OUTSCALE_API_KEY": "k\x01ey"})
    assert caught.value.message.startswith("invalid value (hidden) in OUTSCALE_API_KEY: the key")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X A": "1"}, "'X A' is not a header name"),
        ({"X-A": "caf\xe9"}, "the value of X-A holds control characters or non-ASCII"),
        ({"X-A": "a\nb"}, "the value of X-A holds control characters or non-ASCII"),
    ],
)
def test_bad_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"headers": headers}, {})
    assert message in caught.value.message


def test_a_header_value_may_hold_a_tab() -> None:
    assert load_settings({"headers": {"X-A": "a\tb ~"}}, {}).headers == {"X-A": "a\tb ~"}


# -- where each value came from -------------------------------------------------------------------


def profile_of(tmp: Path, body: str, environ: dict[str, str] | None = None) -> Any:
    from outscale_cli.config import check_text

    path = tmp / "config.toml"
    text = f"[profiles.p]\n{body}\n"
    path.write_text(text)
    path.chmod(0o600)
    return check_text(text, path).ref("p", environ or {})


def test_sources_name_flag_env_profile_and_default(tmp_path: Path) -> None:
    profile = profile_of(tmp_path, 'model = "m"\nretries = 4\napi_key_env = "K"', {"K": "sk-k"})
    settings = load_settings({"timeout": 5.0}, {"OUTSCALE_MAX_TIME": "9"}, profile)
    assert dict(settings.sources) == {
        "model": "profile",
        "timeout": "flag",
        "connect_timeout": "default",
        "max_time": "env",
        "retries": "profile",
        "api_key": "profile",
    }
    assert dict(settings.variables) == {"max_time": "OUTSCALE_MAX_TIME"}
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-k"


def test_a_profile_without_a_key_gives_no_key_source(tmp_path: Path) -> None:
    settings = load_settings({}, {}, profile_of(tmp_path, 'model = "m"'))
    assert "api_key" not in settings.sources and settings.api_key is None


def test_a_bad_profile_key_names_the_key_it_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, profile_of(tmp_path, 'api_key = "a\\u0001b"'))
    assert caught.value.message.startswith(f"{tmp_path / 'config.toml'}:2: [profiles.p] api_key:")


def test_resolve_key_false_runs_no_key_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    profile = profile_of(tmp_path, f'api_key_cmd = "touch {marker}"')
    settings = load_settings({}, {}, profile, resolve_key=False)
    assert settings.api_key is None and not marker.exists()


def test_the_key_command_runs_within_the_connect_timeout(tmp_path: Path) -> None:
    import sys

    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(30)\n")
    profile = profile_of(tmp_path, f'api_key_cmd = "{sys.executable} {script}"')
    with pytest.raises(ConfigError) as caught:
        load_settings({"connect_timeout": 0.3}, {}, profile)
    assert caught.value.message == (
        "profile p: api_key_cmd did not finish within 0.3 s (--connect-timeout 0.3)"
    )


def test_the_key_command_gets_what_is_left_of_max_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from outscale_cli import config, console

    calls: list[tuple[str, str, float, str]] = []

    def key_from_command(command: str, profile: str, timeout: float, budget: str) -> str:
        calls.append((command, profile, timeout, budget))
        return "sk-cmd"

    monkeypatch.setattr(config, "key_from_command", key_from_command)
    monkeypatch.setattr(console, "STARTED", time.monotonic() - 99.7)
    profile = profile_of(tmp_path, 'api_key_cmd = "get-key"')
    settings = load_settings({"max_time": 100.0}, {}, profile)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-cmd"
    [(command, name, timeout, budget)] = calls
    assert (command, name, budget) == ("get-key", "p", "what was left of --max-time 100")
    assert 0.0 < timeout <= 0.3


def test_time_left_counts_from_the_start_and_never_reaches_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from outscale_cli import console
    from outscale_cli.settings import _time_left

    with_max_time = load_settings({"max_time": 100.0}, {})
    without = load_settings({"connect_timeout": 2.5}, {})
    monkeypatch.setattr(console, "STARTED", 1000.0)
    monkeypatch.setattr(time, "monotonic", lambda: 1099.75)
    assert _time_left(with_max_time) == (
        pytest.approx(0.25),
        "what was left of --max-time 100",
    )
    monkeypatch.setattr(time, "monotonic", lambda: 2000.0)
    assert _time_left(with_max_time) == (0.01, "what was left of --max-time 100")
    assert _time_left(without) == (2.5, "--connect-timeout 2.5")


# -- --all: every profile with its own server and model -------------------------------------------


def test_every_profile_settings_ignores_the_server_and_model_variables(tmp_path: Path) -> None:
    from outscale_cli.settings import every_profile_settings

    path = tmp_path / "c.toml"
    path.write_text(
        '[profiles.a]\nserver_url = "http://a.test"\nmodel = "ma"\n\n'
        '[profiles.b]\nserver_url = "http://b.test"\napi_key_env = "NOT_SET"\n'
    )
    environ = {"OUTSCALE_SERVER_URL": "http://env.test", "OUTSCALE_MODEL_NAME": "env-model",
               "OUTSCALE_TIMEOUT": "7"}  # fmt: skip
    flags = {"server_url": "http://flag.test", "model": "flag-model", "retries": 1}
    [(first, a), (second, b)] = every_profile_settings(flags, environ, config=str(path))
    assert (first, second) == ("a", "b")
    assert not isinstance(a, Exception)
    assert (a.server_url, a.model, a.timeout, a.retries) == ("http://a.test", "ma", 7.0, 1)
    assert isinstance(b, ConfigError) and "NOT_SET" in b.message


def test_every_profile_settings_without_profiles_is_a_config_error(tmp_path: Path) -> None:
    from outscale_cli.settings import every_profile_settings

    with pytest.raises(ConfigError) as caught:
        every_profile_settings({}, {}, config=str(tmp_path / "none.toml"))
    assert caught.value.message == f"no profiles in {tmp_path / 'none.toml'}"
    assert caught.value.hint == "add one with 'outscale-cli config add NAME --server-url URL'"


# -- config show ----------------------------------------------------------------------------------


def describe(tmp_path: Path, body: str, environ: dict[str, str] | None = None, **kw: Any) -> Any:
    from outscale_cli.settings import describe_settings

    path = tmp_path / "c.toml"
    path.write_text(f'default_profile = "p"\n\n[profiles.p]\n{body}\n')
    path.chmod(0o600)
    return describe_settings({}, environ or {}, config=str(path), **kw)


def test_describe_names_each_source(tmp_path: Path) -> None:
    shown = describe(
        tmp_path,
        'server_url = "http://u:pw@p.test"\nheaders = { "X-A" = "1", "X-B" = "2" }',
        {"OUTSCALE_TIMEOUT": "5", "HTTPS_PROXY": "http://u:pw2@proxy.test:3128"},
    )
    settings = shown["settings"]
    assert shown["profile"] == "p" and shown["profile_source"] == "default_profile"
    assert shown["config_exists"] is True
    assert settings["server_url"] == {"value": "http://u:********@p.test", "source": "profile p"}
    assert settings["timeout"] == {"value": 5.0, "source": "env OUTSCALE_TIMEOUT"}
    assert settings["connect_timeout"] == {"value": 10.0, "source": "default"}
    assert settings["proxy"] == {
        "value": "http://u:********@proxy.test:3128",
        "source": "env HTTPS_PROXY",
    }
    assert settings["retries"] == {"value": 2, "source": "default; ping: 0"}
    assert settings["headers"] == {"value": "X-A, X-B", "source": "profile p"}
    assert settings["model"] == {"value": None, "source": None}
    assert settings["api_key"] == {"value": None, "source": None}


def test_describe_a_flag(tmp_path: Path) -> None:
    from outscale_cli.settings import describe_settings

    shown = describe_settings({"retries": 4}, {}, config=str(tmp_path / "none.toml"))
    assert shown["settings"]["retries"] == {"value": 4, "source": "flag --retries"}
    assert shown["settings"]["headers"] == {"value": None, "source": None}
    assert shown["profile"] is None and shown["profile_source"] is None
    assert shown["config_exists"] is False


@pytest.mark.parametrize(
    ("body", "environ", "key"),
    [
        (
            'model = "m"',
            {"OUTSCALE_API_KEY": "sk"},
            {"value": "set", "source": "env OUTSCALE_API_KEY"},
        ),
        ('api_key_env = "K"', {"K": "sk"}, {"value": "set", "source": "profile p, from env K"}),
        ('api_key_env = "K"', {}, {"value": None, "source": "profile p: K is not set"}),
        (
            'api_key_cmd = "false"',
            {},
            {"value": "set", "source": "profile p, from api_key_cmd (not run)"},
        ),
        ('api_key = "sk"', {}, {"value": "set", "source": "profile p"}),
    ],
)
def test_describe_the_key_never_shows_it(
    tmp_path: Path, body: str, environ: dict[str, str], key: dict[str, Any]
) -> None:
    shown = describe(tmp_path, body, environ)
    assert shown["settings"]["api_key"] == key


def test_describe_a_profile_chosen_by_flag(tmp_path: Path) -> None:
    shown = describe(tmp_path, 'model = "m"', profile="p")
    assert shown["profile_source"] == "flag --profile"
    assert shown["settings"]["model"] == {"value": "m", "source": "profile p"}


def test_the_key_command_runs_within_the_profiles_connect_timeout(tmp_path: Path) -> None:
    import sys

    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(30)\n")
    profile = profile_of(
        tmp_path, f'connect_timeout = 0.3\napi_key_cmd = "{sys.executable} {script}"'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, profile)
    assert caught.value.message == (
        "profile p: api_key_cmd did not finish within 0.3 s (--connect-timeout 0.3)"
    )


def test_a_bad_flag_value_says_what_was_expected_and_nothing_more() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"retries": 101}, {})
    assert caught.value.message == (
        "invalid value '101' for --retries: expected a whole number, 0 or more (at most 100)"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {"OUTSCALE_TIMEOUT": "0"})
    assert caught.value.message == (
        "invalid value '0' in OUTSCALE_TIMEOUT: expected a number of seconds greater than 0, "
        "at most 1,000,000"
    )


def test_a_bad_value_without_a_flag_name_is_named_by_its_field() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"headers": {"X A": "1"}}, {})
    assert caught.value.message.startswith("invalid value \"{'X A': '1'}\" for headers: ")


def test_a_literal_key_of_the_wrong_type_is_never_shown(tmp_path: Path) -> None:
    from outscale_cli.config import load_config

    path = tmp_path / "c.toml"
    path.write_text("[profiles.p]\napi_key = 123456789\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message == (
        f"{path}:2: [profiles.p] api_key: expected a key of printable ASCII characters"
    )


def test_a_literal_key_is_not_taken_when_keys_are_not_resolved(tmp_path: Path) -> None:
    settings = load_settings(
        {}, {}, profile_of(tmp_path, 'api_key = "sk-literal"'), resolve_key=False
    )
    assert settings.api_key is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@ss@h.test", "http://u:********@h.test"),
        ("http://u:p:w@h", "http://u:********@h"),
    ],
)
def test_a_password_holding_at_signs_is_hidden_whole(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_profile_name_with_a_delete_character_is_refused() -> None:
    from outscale_cli.config import profile_problem

    assert profile_problem({"name": "a\x7fb", "model": "m"}) == (
        "name",
        "a profile name is not empty and holds no spaces or control characters",
    )


def test_a_header_value_with_a_delete_character_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"headers": {"X-A": "a\x7fb"}}, {})
    assert "the value of X-A holds control characters or non-ASCII" in caught.value.message


def test_names_may_hold_spaces_and_lowercase_variables(tmp_path: Path) -> None:
    assert load_settings({"model": "my model"}, {}).model == "my model"
    profile = profile_of(tmp_path, 'api_key_env = "my_key"', {"my_key": "sk-lower"})
    settings = load_settings({}, {}, profile)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-lower"


def test_a_bad_proxy_says_what_a_proxy_is() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"proxy": "socks5://p:1080"}, {})
    assert caught.value.message == (
        "invalid value 'socks5://p:1080' for --proxy: it must be an http:// or https:// URL; "
        "expected an http:// or https:// proxy URL"
    )


def test_config_show_ignores_an_unsendable_key_variable(tmp_path: Path) -> None:
    shown = describe(tmp_path, 'model = "m"', {"OUTSCALE_API_KEY": "cl\u00e9"})
    assert shown["settings"]["api_key"] == {"value": "set", "source": "env OUTSCALE_API_KEY"}


def test_config_show_names_a_flag_without_a_flag_name_by_its_field(tmp_path: Path) -> None:
    from outscale_cli.settings import describe_settings

    shown = describe_settings({"headers": {"X-A": "1"}}, {}, config=str(tmp_path / "none.toml"))
    assert shown["settings"]["headers"] == {"value": "X-A", "source": "flag headers"}


def test_every_profile_settings_finds_the_file_by_the_variable(tmp_path: Path) -> None:
    from outscale_cli.settings import every_profile_settings

    path = tmp_path / "c.toml"
    path.write_text('[profiles.a]\nserver_url = "http://a.test"\n')
    [(name, settings)] = every_profile_settings({}, {"OUTSCALE_CONFIG": str(path)})
    assert name == "a" and not isinstance(settings, Exception)
    assert settings.server_url == "http://a.test"


def test_a_bad_key_given_as_a_flag_is_never_shown() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"api_key": "sk-\x01secret"}, {})
    assert caught.value.message.startswith("invalid value (hidden) for api_key: the key holds")
    assert "secret" not in caught.value.message


def test_a_bad_profile_value_is_named_by_its_own_key_not_the_keys(tmp_path: Path) -> None:
    from outscale_cli.config import Config, ProfileRef

    config = Config(tmp_path / "c.toml")
    profile = ProfileRef("p", {"timeout": -1.0, "api_key_env": "K"}, config, {"K": "sk-k"})
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, profile)
    assert caught.value.message == (
        f"{tmp_path / 'c.toml'}: [profiles.p] timeout: expected a number of seconds greater "
        "than 0, at most 1,000,000"
    )


def test_a_bad_value_of_no_known_source_is_named_by_its_field() -> None:
    from pydantic_core import ValidationError

    from outscale_cli.settings import _Call, _refusal

    error = ValidationError.from_exception_data(
        "Settings", [{"type": "greater_than", "loc": ("timeout",), "input": 0, "ctx": {"gt": 0}}]
    )
    refusal = _refusal(error, {}, _Call({}, None, True))
    assert isinstance(refusal, ConfigError)
    assert refusal.message == (
        "invalid value for timeout: expected a number of seconds greater than 0, at most 1,000,000"
    )
