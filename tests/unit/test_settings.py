"""outscale_cli.settings: server URLs, precedence flag > env > profile > default, the messages
for bad values (flag, variable, config.toml:LINE), and secrets."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pydantic import SecretStr

from outscale_cli.config import ProfileRef, check_text
from outscale_cli.errors import ConfigError, UsageError
from outscale_cli.settings import Settings, load_settings, normalise_server_url
from outscale_cli.status import ExitStatus

# -- normalise_server_url -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://vm.test:5000", "http://vm.test:5000"),
        ("http://vm.test:5000/", "http://vm.test:5000"),
        ("http://vm.test:5000/v1", "http://vm.test:5000"),
        ("http://vm.test:5000/v1/", "http://vm.test:5000"),
        ("https://api.mistral.ai", "https://api.mistral.ai"),
        ("https://api.mistral.ai/v1/", "https://api.mistral.ai"),
        ("https://gw.example.com/mistral", "https://gw.example.com/mistral"),
        ("https://gw.example.com/mistral/", "https://gw.example.com/mistral"),
        ("https://gw.example.com/mistral/v1", "https://gw.example.com/mistral"),
        ("https://gw.example.com/mistral/v1/", "https://gw.example.com/mistral"),
        ("  http://localhost:8000/v1/  ", "http://localhost:8000"),
    ],
)
def test_server_url_forms_end_at_the_prefix(raw: str, expected: str) -> None:
    assert normalise_server_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("vm.test:5000", "http://vm.test:5000"),
        ("localhost:8000/v1", "http://localhost:8000"),
        ("gw.example.com/mistral/v1/", "http://gw.example.com/mistral"),
    ],
)
def test_server_url_without_scheme_gets_http(raw: str, expected: str) -> None:
    assert normalise_server_url(raw) == expected


def test_path_segment_merely_ending_in_v1_is_kept() -> None:
    assert normalise_server_url("https://gw.example.com/apiv1") == "https://gw.example.com/apiv1"


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://vm.test:5000",
        "file:///etc/passwd",
        "ws://host:8000",
        "",
        "   ",
        "http://",
        "http://host:port",
        "http://host:70000",
        "not a url",
    ],
)
def test_bad_server_url_raises_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_server_url(raw)


# -- profiles, as the config file gives them -------------------------------------------------


def profile_of(body: str, environ: dict[str, str] | None = None, tmp: Path | None = None) -> Any:
    """The profile "p" of a config file (mode 0600) holding `body` under [profiles.p]."""
    path = Path(tmp or tempfile.mkdtemp(prefix="settings-test-")) / "config.toml"
    text = f"[profiles.p]\n{body}\n"
    path.write_text(text)
    path.chmod(0o600)
    return check_text(text, path).ref("p", environ or {})


# -- load_settings: each pair of adjacent sources -------------------------------------------


class Case(NamedTuple):
    """One field as each source gives it (raw) and as it comes out (parsed)."""

    name: str
    var: str
    flag: Any
    env: str
    profile: str  # a TOML value
    from_flag: Any
    from_env: Any
    from_profile: Any


CASES = [
    Case(
        "server_url",
        "OUTSCALE_SERVER_URL",
        "http://flag:1/v1/",
        "http://env:2/",
        '"http://profile:3"',
        "http://flag:1",
        "http://env:2",
        "http://profile:3",
    ),
    Case(
        "model",
        "OUTSCALE_MODEL_NAME",
        "flag-model",
        "env-model",
        '"profile-model"',
        "flag-model",
        "env-model",
        "profile-model",
    ),
    Case("timeout", "OUTSCALE_TIMEOUT", 5.0, "6", "7", 5.0, 6.0, 7.0),
    Case("connect_timeout", "OUTSCALE_CONNECT_TIMEOUT", 1.5, "2.5", "3.5", 1.5, 2.5, 3.5),
    Case("max_time", "OUTSCALE_MAX_TIME", 8.0, "9", "10", 8.0, 9.0, 10.0),
    Case("retries", "OUTSCALE_RETRIES", 0, "4", "5", 0, 4, 5),
    Case(
        "proxy",
        "HTTPS_PROXY",
        "http://flag:3128",
        "http://env:3128",
        '"http://profile:3128"',
        "http://flag:3128",
        "http://env:3128",
        "http://profile:3128",
    ),
]
each_field = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


@each_field
def test_flag_beats_env(case: Case) -> None:
    settings = load_settings({case.name: case.flag}, {case.var: case.env})
    assert getattr(settings, case.name) == case.from_flag
    assert settings.sources[case.name] == "flag"


@each_field
def test_env_beats_profile(case: Case) -> None:
    profile = profile_of(f"{case.name} = {case.profile}")
    settings = load_settings({}, {case.var: case.env}, profile)
    assert getattr(settings, case.name) == case.from_env
    assert settings.sources[case.name] == "env"
    assert settings.variables[case.name] == case.var


@each_field
def test_profile_beats_default(case: Case) -> None:
    settings = load_settings({}, {}, profile_of(f"{case.name} = {case.profile}"))
    assert getattr(settings, case.name) == case.from_profile
    assert settings.sources[case.name] == "profile"
    assert settings.profile == "p"


@each_field
def test_flag_beats_env_and_profile_together(case: Case) -> None:
    profile = profile_of(f"{case.name} = {case.profile}")
    settings = load_settings({case.name: case.flag}, {case.var: case.env}, profile)
    assert getattr(settings, case.name) == case.from_flag


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings({}, {})
    assert settings.server_url is None
    assert settings.model is None
    assert settings.api_key is None
    assert settings.retries is None
    assert settings.timeout == 120.0
    assert settings.connect_timeout == 10.0
    assert settings.sources["timeout"] == "default"
    assert "server_url" not in settings.sources
    assert settings.profile is None


def test_flag_given_as_none_does_not_hide_the_env() -> None:
    settings = load_settings(
        {"model": None, "timeout": None},
        {"OUTSCALE_MODEL_NAME": "small-2409", "OUTSCALE_TIMEOUT": "30"},
    )
    assert settings.model == "small-2409"
    assert settings.timeout == 30.0


def test_empty_env_var_does_not_hide_the_profile() -> None:
    settings = load_settings({}, {"OUTSCALE_MODEL_NAME": ""}, profile_of('model = "from-profile"'))
    assert settings.model == "from-profile"
    assert settings.sources["model"] == "profile"


@pytest.mark.parametrize(
    "name", ["MODEL", "SERVER_URL", "OUTSCALE_MODEL", "HEADERS", "INSECURE", "TIMEOUT", "api_key"]
)
def test_unrelated_env_vars_are_ignored(name: str) -> None:
    value = '{"X": "1"}' if name == "HEADERS" else "true" if name == "INSECURE" else "7"
    settings = load_settings({}, {name: value})
    assert settings.model is None and settings.server_url is None
    assert settings.headers == {} and settings.insecure is False and settings.timeout == 120.0
    assert settings.api_key is None


def test_the_first_proxy_variable_set_wins() -> None:
    settings = load_settings({}, {"HTTP_PROXY": "http://b:1", "https_proxy": "http://a:1"})
    assert settings.proxy == "http://a:1"
    assert settings.variables["proxy"] == "https_proxy"


def test_api_key_from_env_beats_profile() -> None:
    settings = load_settings({}, {"OUTSCALE_API_KEY": "env-key"}, profile_of('api_key = "pk"'))
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "env-key"


def test_api_key_from_profile() -> None:
    settings = load_settings({}, {}, profile_of('api_key = "profile-key"'))
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "profile-key"
    assert settings.sources["api_key"] == "profile"


def test_api_key_from_the_profiles_variable() -> None:
    profile = profile_of('api_key_env = "MY_KEY"', {"MY_KEY": "sk-var"})
    settings = load_settings({}, {}, profile)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-var"
    assert settings.sources["api_key"] == "profile"


def test_the_profiles_key_command_is_not_run_when_the_env_gives_a_key(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    profile = profile_of(f'api_key_cmd = "touch {marker}"')
    settings = load_settings({}, {"OUTSCALE_API_KEY": "sk-env"}, profile)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-env"
    assert not marker.exists()
    with pytest.raises(ConfigError, match="printed no key"):  # it does run when it wins
        load_settings({}, {}, profile)
    assert marker.exists()


def test_whitespace_api_key_is_no_key() -> None:
    assert load_settings({}, {"OUTSCALE_API_KEY": "  "}).api_key is None


def test_api_key_is_stripped() -> None:
    settings = load_settings({}, {"OUTSCALE_API_KEY": "  sk-1\n"})
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-1"


# -- bad values: one line naming the source and what was expected -----------------------------


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("OUTSCALE_TIMEOUT", "abc"),
        ("OUTSCALE_TIMEOUT", "0"),
        ("OUTSCALE_TIMEOUT", "-5"),
        ("OUTSCALE_TIMEOUT", "nan"),
        ("OUTSCALE_TIMEOUT", "inf"),
        ("OUTSCALE_TIMEOUT", "1e300"),
        ("OUTSCALE_MAX_TIME", "1e20"),
        ("OUTSCALE_CONNECT_TIMEOUT", "soon"),
        ("OUTSCALE_RETRIES", "-1"),
        ("OUTSCALE_RETRIES", "two"),
        ("OUTSCALE_RETRIES", "1.5"),
        ("OUTSCALE_RETRIES", "101"),
        ("OUTSCALE_SERVER_URL", "ftp://vm.test:5000"),
        ("OUTSCALE_SERVER_URL", "http://host:port"),
        ("OUTSCALE_MODEL_NAME", "  "),
        ("HTTPS_PROXY", "socks5://proxy:1080"),
        ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
    ],
)
def test_bad_env_value_is_a_config_error_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {var: value})
    message = caught.value.message
    assert message.startswith(f"invalid value {value!r} in {var}: "), message
    assert "expected" in message
    assert caught.value.status == ExitStatus.CONFIG == 3
    assert "validation error" not in message and "pydantic" not in message
    assert "\n" not in message


def test_bad_env_value_is_reported_even_when_a_profile_has_a_good_one() -> None:
    with pytest.raises(ConfigError, match="OUTSCALE_TIMEOUT"):
        load_settings({}, {"OUTSCALE_TIMEOUT": "abc"}, profile_of("timeout = 30"))


def test_good_flag_hides_a_bad_env_value() -> None:
    assert load_settings({"timeout": 9.0}, {"OUTSCALE_TIMEOUT": "abc"}).timeout == 9.0


@pytest.mark.parametrize(
    ("name", "value", "flag", "expected"),
    [
        ("timeout", -1.0, "--timeout", "greater than 0"),
        ("timeout", 0, "--timeout", "greater than 0"),
        ("timeout", 1e300, "--timeout", "at most 1,000,000"),
        ("timeout", float("nan"), "--timeout", "number of seconds"),
        ("connect_timeout", "never", "--connect-timeout", "number of seconds"),
        ("connect_timeout", 1e300, "--connect-timeout", "at most"),
        ("max_time", 1e20, "--max-time", "at most"),
        ("max_time", float("inf"), "--max-time", "number of seconds"),
        ("retries", -2, "--retries", "0 or more"),
        ("server_url", "ftp://x", "--server-url", "scheme must be http or https"),
        ("model", "", "--model", "empty"),
        ("model", "   ", "--model", "empty"),
        ("ca_bundle", "/nonexistent/ca.pem", "--ca-bundle", "no such file"),
        ("proxy", "proxy:3128", "--proxy", "http://"),
    ],
)
def test_bad_flag_value_is_a_usage_error_naming_the_flag(
    name: str, value: Any, flag: str, expected: str
) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({name: value}, {})
    message = caught.value.message
    assert message.startswith(f"invalid value {str(value)!r} for {flag}: "), message
    assert expected in message
    assert caught.value.status == ExitStatus.USAGE
    assert "validation error" not in message and "errors.pydantic.dev" not in message


def test_bad_profile_value_names_the_file_line_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        profile_of('server_url = "http://h"\n# a comment\nretries = "many"', tmp=tmp_path)
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'config.toml'}:4: [profiles.p] retries: "), message
    assert "whole number" in message and "'many'" in message


def test_a_key_that_cannot_be_a_header_is_refused_and_never_shown() -> None:
    for key in ("bad\nSECRET", "clé-SECRET", "a\x00SECRET"):
        with pytest.raises(ConfigError) as caught:
            load_settings({}, {"OUTSCALE_API_KEY": key})
        assert "SECRET" not in caught.value.message
        assert "OUTSCALE_API_KEY" in caught.value.message
        assert "HTTP header" in caught.value.message


def test_a_profiles_unsendable_key_names_where_it_came_from(tmp_path: Path) -> None:
    profile = profile_of('api_key_env = "MY_KEY"', {"MY_KEY": "x\rSECRET"}, tmp=tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, profile)
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'config.toml'}:2: [profiles.p] api_key_env: ")
    assert "SECRET" not in message


# -- the key is a secret --------------------------------------------------------------------

KEY = "sk-0123456789abcdef"


def test_settings_repr_hides_the_key() -> None:
    settings = load_settings({}, {"OUTSCALE_API_KEY": KEY, "OUTSCALE_SERVER_URL": "http://h"})
    assert isinstance(settings.api_key, SecretStr)
    for shown in (repr(settings), str(settings), f"{settings.api_key}", repr(settings.api_key)):
        assert KEY not in shown
    assert settings.api_key.get_secret_value() == KEY


def test_a_bad_flag_next_to_a_key_does_not_show_the_key() -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({"timeout": -1.0}, {"OUTSCALE_API_KEY": KEY})
    assert KEY not in str(caught.value) and KEY not in repr(caught.value.__cause__)


# -- api_base -------------------------------------------------------------------------------


def test_api_base_adds_v1_to_the_prefix() -> None:
    settings = load_settings({"server_url": "https://gw.example.com/mistral/v1/"}, {})
    assert settings.api_base == "https://gw.example.com/mistral/v1"


def test_api_base_without_server_url_names_both_sources() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}).api_base  # noqa: B018
    assert "OUTSCALE_SERVER_URL" in caught.value.message
    assert "--server-url" in caught.value.message
    assert caught.value.status == ExitStatus.CONFIG


def test_settings_outside_load_settings_read_flags_and_this_process_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTSCALE_MODEL_NAME", "from-env")
    monkeypatch.setenv("HEADERS", '{"X": "1"}')
    settings = Settings(timeout=3.0)
    assert settings.model == "from-env" and settings.timeout == 3.0 and settings.headers == {}


def test_profile_ref_key_reports_which_key_gave_it() -> None:
    ref = ProfileRef("p", {"api_key_env": "V"}, check_text("", Path("c.toml")), {"V": "k"})
    assert ref.key() == ("api_key_env", "k")
