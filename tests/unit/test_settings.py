"""outscale_cli.settings: server URLs, precedence flag > env > profile > default, secrets."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from outscale_cli.errors import ConfigError, UsageError
from outscale_cli.settings import Secret, Settings, load_settings, normalise_server_url
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
    ],
)
def test_bad_server_url_raises_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_server_url(raw)


# -- load_settings: each pair of adjacent sources -------------------------------------------


class Case(NamedTuple):
    """One field as each source gives it (raw) and as it comes out (parsed)."""

    name: str
    var: str
    flag: Any
    env: str
    profile: Any
    from_flag: Any
    from_env: Any
    from_profile: Any


CASES = [
    Case(
        "server_url",
        "OUTSCALE_SERVER_URL",
        "http://flag:1/v1/",
        "http://env:2/",
        "http://profile:3",
        "http://flag:1",
        "http://env:2",
        "http://profile:3",
    ),
    Case(
        "model",
        "OUTSCALE_MODEL_NAME",
        "flag-model",
        "env-model",
        "profile-model",
        "flag-model",
        "env-model",
        "profile-model",
    ),
    Case("timeout", "OUTSCALE_TIMEOUT", 5.0, "6", 7, 5.0, 6.0, 7.0),
    Case("connect_timeout", "OUTSCALE_CONNECT_TIMEOUT", 1.5, "2.5", "3.5", 1.5, 2.5, 3.5),
    Case("retries", "OUTSCALE_RETRIES", 0, "4", 5, 0, 4, 5),
]
each_field = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


@each_field
def test_flag_beats_env(case: Case) -> None:
    settings = load_settings({case.name: case.flag}, {case.var: case.env})
    assert getattr(settings, case.name) == case.from_flag
    assert settings.sources[case.name] == "flag"


@each_field
def test_env_beats_profile(case: Case) -> None:
    settings = load_settings({}, {case.var: case.env}, {case.name: case.profile})
    assert getattr(settings, case.name) == case.from_env
    assert settings.sources[case.name] == "env"


@each_field
def test_profile_beats_default(case: Case) -> None:
    settings = load_settings({}, {}, {case.name: case.profile})
    assert getattr(settings, case.name) == case.from_profile
    assert settings.sources[case.name] == "profile"


@each_field
def test_flag_beats_env_and_profile_together(case: Case) -> None:
    settings = load_settings(
        {case.name: case.flag}, {case.var: case.env}, {case.name: case.profile}
    )
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


def test_flag_given_as_none_does_not_hide_the_env() -> None:
    settings = load_settings(
        {"model": None, "timeout": None},
        {"OUTSCALE_MODEL_NAME": "small-2409", "OUTSCALE_TIMEOUT": "30"},
    )
    assert settings.model == "small-2409"
    assert settings.timeout == 30.0


def test_empty_env_var_does_not_hide_the_profile() -> None:
    settings = load_settings({}, {"OUTSCALE_MODEL_NAME": ""}, {"model": "from-profile"})
    assert settings.model == "from-profile"


def test_unrelated_env_vars_are_ignored() -> None:
    settings = load_settings({}, {"MODEL": "x", "SERVER_URL": "http://a", "OUTSCALE_MODEL": "y"})
    assert settings.model is None and settings.server_url is None


def test_api_key_from_env_beats_profile() -> None:
    settings = load_settings({}, {"OUTSCALE_API_KEY": "env-key"}, {"api_key": "profile-key"})
    assert settings.api_key is not None
    assert settings.api_key.reveal() == "env-key"


def test_api_key_from_profile() -> None:
    settings = load_settings({}, {}, {"api_key": "profile-key"})
    assert settings.api_key is not None and settings.api_key.reveal() == "profile-key"


def test_whitespace_api_key_is_no_key() -> None:
    assert load_settings({}, {"OUTSCALE_API_KEY": "  "}).api_key is None


# -- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("OUTSCALE_TIMEOUT", "abc"),
        ("OUTSCALE_TIMEOUT", "0"),
        ("OUTSCALE_TIMEOUT", "-5"),
        ("OUTSCALE_TIMEOUT", "nan"),
        ("OUTSCALE_TIMEOUT", "inf"),
        ("OUTSCALE_CONNECT_TIMEOUT", "soon"),
        ("OUTSCALE_RETRIES", "-1"),
        ("OUTSCALE_RETRIES", "two"),
        ("OUTSCALE_RETRIES", "1.5"),
        ("OUTSCALE_SERVER_URL", "ftp://vm.test:5000"),
        ("OUTSCALE_SERVER_URL", "http://host:port"),
    ],
)
def test_bad_env_value_is_a_config_error_naming_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {var: value})
    assert var in caught.value.message
    assert caught.value.status == ExitStatus.CONFIG == 3


def test_bad_env_value_is_reported_even_when_a_profile_has_a_good_one() -> None:
    with pytest.raises(ConfigError):
        load_settings({}, {"OUTSCALE_TIMEOUT": "abc"}, {"timeout": 30})


def test_good_flag_hides_a_bad_env_value() -> None:
    assert load_settings({"timeout": 9.0}, {"OUTSCALE_TIMEOUT": "abc"}).timeout == 9.0


@pytest.mark.parametrize(
    ("name", "value", "flag"),
    [
        ("timeout", -1.0, "--timeout"),
        ("timeout", 0, "--timeout"),
        ("connect_timeout", "never", "--connect-timeout"),
        ("retries", -2, "--retries"),
        ("server_url", "ftp://x", "--server-url"),
    ],
)
def test_bad_flag_value_is_a_usage_error_naming_the_flag(name: str, value: Any, flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings({name: value}, {})
    assert flag in caught.value.message
    assert caught.value.status == ExitStatus.USAGE


def test_bad_profile_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({}, {}, {"retries": "many"})
    assert "retries" in caught.value.message


# -- the key is a Secret --------------------------------------------------------------------

KEY = "sk-0123456789abcdef"


def test_secret_never_shows_its_value() -> None:
    secret = Secret(KEY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret):
        assert KEY not in shown
    assert secret.reveal() == KEY


def test_settings_repr_hides_the_key() -> None:
    settings = load_settings({}, {"OUTSCALE_API_KEY": KEY, "OUTSCALE_SERVER_URL": "http://h"})
    assert isinstance(settings.api_key, Secret)
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert settings.api_key.reveal() == KEY


def test_secrets_compare_by_value() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"


# -- api_base -------------------------------------------------------------------------------


def test_api_base_adds_v1_to_the_prefix() -> None:
    settings = load_settings({"server_url": "https://gw.example.com/mistral/v1/"}, {})
    assert settings.api_base == "https://gw.example.com/mistral/v1"


def test_api_base_without_server_url_names_both_sources() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings().api_base  # noqa: B018
    assert "OUTSCALE_SERVER_URL" in caught.value.message
    assert "--server-url" in caught.value.message
    assert caught.value.status == ExitStatus.CONFIG
