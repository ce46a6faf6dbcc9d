"""A proxy that cannot be reached is named as the proxy, not as the server; a password in a
URL (http://user:pw@host) is shown nowhere: ping, --json, --debug, config show, config list,
error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import Served, refused_url, run_cli

PASSWORD = "pw-9f8e7d6c"


def test_a_refused_proxy_flag_is_named(stand_in: Served) -> None:
    with refused_url() as proxy:
        result = run_cli("chat", "--proxy", proxy, "--retries", "0", "hi", env=stand_in.env())
    assert result.code == 4
    port = proxy.rsplit(":", 1)[1]
    assert f"cannot connect to the proxy 127.0.0.1:{port} (--proxy): connection refused" in (
        result.stderr
    )
    assert stand_in.posts() == []


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_refused_proxy_variable_is_named(stand_in: Served, variable: str) -> None:
    with refused_url() as proxy:
        env = stand_in.env(**{variable: proxy})
        result = run_cli("chat", "--retries", "0", "hi", env=env)
    assert result.code == 4
    assert "cannot connect to the proxy 127.0.0.1:" in result.stderr
    shown = "ALL_PROXY" if variable == "ALL_PROXY" else "HTTP_PROXY"
    assert f"({shown})" in result.stderr


def test_no_proxy_bypasses_a_refused_proxy(stand_in: Served) -> None:
    with refused_url() as proxy:
        env = stand_in.env(HTTP_PROXY=proxy, NO_PROXY="127.0.0.1")
        result = run_cli("chat", "--retries", "0", "hi", env=env)
    assert result.code == 0, result.stderr


def test_a_profiles_refused_proxy_is_named(stand_in: Served, tmp_path: Path) -> None:
    with refused_url() as proxy:
        config = tmp_path / "c.toml"
        config.write_text(
            f'default_profile = "p"\n[profiles.p]\nserver_url = "{stand_in.url}"\n'
            f'model = "small-2409"\nproxy = "{proxy}"\n'
        )
        result = run_cli("chat", "--retries", "0", "hi", env={"OUTSCALE_CONFIG": str(config)})
    assert result.code == 4
    assert "(the proxy of profile p)" in result.stderr


def with_password(url: str) -> str:
    return url.replace("http://", f"http://user:{PASSWORD}@")


def test_ping_and_its_json_hide_the_password(stand_in: Served) -> None:
    url = with_password(stand_in.url)
    plain = run_cli("ping", "--server-url", url, "-m", "small-2409", "--debug")
    assert plain.code == 0, plain.stderr
    assert "user:********@127.0.0.1" in plain.stdout
    as_json = run_cli("ping", "--server-url", url, "-m", "small-2409", "--json")
    assert json.loads(as_json.stdout)["server_url"].startswith("http://user:********@")
    for result in (plain, as_json):
        assert PASSWORD not in result.stdout + result.stderr


def test_errors_hide_the_password(stand_in: Served) -> None:
    url = with_password(stand_in.url)
    result = run_cli("ping", "--server-url", url, "-m", "typo", "--debug")
    assert result.code == 8
    assert "user:********@" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_config_show_and_list_hide_the_password(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    proxy = f"http://proxyuser:{PASSWORD}-proxy@127.0.0.1:3128"
    config.write_text(
        'default_profile = "p"\n[profiles.p]\n'
        f'server_url = "http://user:{PASSWORD}@127.0.0.1:9"\nproxy = "{proxy}"\n'
    )
    env = {"OUTSCALE_CONFIG": str(config)}
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "list"]):
        result = run_cli(*args, env=env)
        assert result.code == 0, result.stderr
        assert PASSWORD not in result.stdout + result.stderr
        assert "user:********@127.0.0.1:9" in result.stdout
