"""Server URLs as users paste them all reach `<prefix>/v1/...`, never `/v1/v1/`."""

from __future__ import annotations

import pytest

from outscale_cli.mock.server import MockConfig

from .helpers import expected_chat, piped, run_cli, serve, url_env

ENDINGS = ["", "/", "/v1", "/v1/"]


@pytest.mark.parametrize("prefix", ["", "/gw/mistral"], ids=["root", "gateway-prefix"])
@pytest.mark.parametrize("ending", ENDINGS, ids=["bare", "slash", "v1", "v1-slash"])
def test_every_url_form_reaches_the_api(prefix: str, ending: str) -> None:
    with serve(MockConfig(models=("small-2409", "codestral-2405")), prefix=prefix) as srv:
        env = url_env(srv.url + ending)
        chat = run_cli("chat", "Hello", env=env)
        ping = run_cli("ping", env=env)
    assert chat.code == 0, chat
    assert chat.stdout == piped(expected_chat("Hello"))
    assert ping.code == 0, ping
    paths = [r.path for r in srv.records]
    assert paths == [
        f"{prefix}/v1/chat/completions",
        f"{prefix}/v1/models",
    ]
    assert not any("/v1/v1" in p or "//" in p for p in paths)


def test_models_and_fim_behind_a_gateway() -> None:
    with serve(MockConfig(models=("a-1", "codestral-2405")), prefix="/team/llm") as srv:
        models = run_cli("models", "--server-url", srv.url + "/v1/")
        fim = run_cli("fim", "--server-url", srv.url + "/v1", "-m", "codestral-2405", "x = ")
    assert models.code == 0, models
    assert models.stdout == "a-1\ncodestral-2405\n"
    assert fim.code == 0, fim
    assert [r.path for r in srv.records] == ["/team/llm/v1/models", "/team/llm/v1/fim/completions"]
