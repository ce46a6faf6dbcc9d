"""Gaps found by mutation testing in outscale_cli/config.py: what the reader refuses (README,
"Profiles"), how a profile is chosen, where a mistake is said to be, and the key command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from outscale_cli.config import (
    Config,
    Locator,
    check_text,
    choose,
    choose_profile,
    config_path,
    key_from_command,
    load_config,
    profile_problem,
    read_names,
    read_text,
)
from outscale_cli.errors import ConfigError
from outscale_cli.settings import EXPECTED

BASE = """\
default_profile = "small"

[profiles.small]
server_url = "http://small.vm.test:5000"
model = "small-2409"

[profiles.codestral]
server_url = "http://codestral.vm.test:5000"
model = "codestral-2405"
"""


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.message


# -- a literal api_key only in a file its owner alone can read ------------------------------------


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_literal_key_in_a_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, '[profiles.p]\napi_key = "sk-literal"\n', mode)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}:2: [profiles.p] api_key: ")
    assert "readable by its owner alone" in caught.value.message
    assert caught.value.hint is not None and f"chmod 600 {path}" in caught.value.hint
    assert "sk-literal" not in caught.value.message + caught.value.hint


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_literal_key_in_an_owner_only_file_is_accepted(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path, '[profiles.p]\napi_key = "sk-literal"\n', mode)
    config = load_config(path)
    assert config.profiles["p"]["api_key"].get_secret_value() == "sk-literal"
    path.chmod(0o600)


def test_a_file_that_cannot_be_statted_is_not_taken_for_private(tmp_path: Path) -> None:
    # The text was read, then the file went away: its mode is unknown, so not private.
    with pytest.raises(ConfigError) as caught:
        check_text('[profiles.p]\napi_key = "sk-literal"\n', tmp_path / "gone.toml")
    assert "readable by its owner alone" in caught.value.message


def test_a_group_readable_file_without_a_literal_key_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.p]\napi_key_env = "MY_KEY"\n', 0o644)
    assert load_config(path).profiles == {"p": {"api_key_env": "MY_KEY"}}


# -- strict values: TOML has real types -----------------------------------------------------------


@pytest.mark.parametrize("key", ["timeout", "connect_timeout", "max_time"])
def test_a_boolean_is_not_a_number_of_seconds(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, f"[profiles.p]\n{key} = true\n")
    message = refusal(path)
    assert message.startswith(f"{path}:2: [profiles.p] {key}: expected a number of seconds")
    assert "got True" in message


def test_a_boolean_is_not_a_number_of_retries(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "[profiles.p]\nretries = true\n"))
    assert "retries: expected a whole number" in message


def test_a_whole_number_of_seconds_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[profiles.p]\ntimeout = 1\nretries = 0\n"))
    assert config.profiles["p"] == {"timeout": 1.0, "retries": 0}


@pytest.mark.parametrize(
    "pair",
    [
        'api_key = "sk-1"\napi_key_env = "MY_KEY"',
        'api_key = "sk-1"\napi_key_cmd = "pass show k"',
        'api_key_env = "MY_KEY"\napi_key_cmd = "pass show k"',
    ],
)
def test_two_ways_to_give_the_key_are_refused(tmp_path: Path, pair: str) -> None:
    path = write(tmp_path, f"[profiles.p]\n{pair}\n")
    message = refusal(path)
    assert message == (
        f"{path}:1: [profiles.p]: give one of api_key, api_key_env, api_key_cmd, not several"
    )


# -- which profile: -m routes only when no server is named ----------------------------------------


def config_of(tmp_path: Path, text: str = BASE) -> Config:
    return load_config(write(tmp_path, text))


def test_model_routing_picks_the_profile_declaring_the_model(tmp_path: Path) -> None:
    chosen = choose_profile(
        config_of(tmp_path), flag=None, environ={}, model_flag="codestral-2405", server_flag=None
    )
    assert chosen == ("codestral", "model")


def test_model_routing_does_not_override_the_server_url_variable(tmp_path: Path) -> None:
    environ = {"OUTSCALE_SERVER_URL": "http://env.vm.test:5000"}
    chosen = choose_profile(
        config_of(tmp_path),
        flag=None,
        environ=environ,
        model_flag="codestral-2405",
        server_flag=None,
    )
    # Not the codestral profile: its key and headers must not go to the variable's server.
    assert chosen == ("small", "default_profile")


def test_model_routing_does_not_override_the_server_url_flag(tmp_path: Path) -> None:
    chosen = choose_profile(
        config_of(tmp_path),
        flag=None,
        environ={},
        model_flag="codestral-2405",
        server_flag="http://flag.vm.test:5000",
    )
    assert chosen == ("small", "default_profile")


def test_the_server_url_variable_keeps_another_profiles_key_away(tmp_path: Path) -> None:
    from outscale_cli.settings import resolve_settings

    text = BASE.replace(
        'model = "codestral-2405"',
        'model = "codestral-2405"\napi_key_env = "CODESTRAL_KEY"\nheaders = { "X-Team" = "c" }',
    )
    path = write(tmp_path, text)
    environ = {
        "OUTSCALE_CONFIG": str(path),
        "OUTSCALE_SERVER_URL": "http://env.vm.test:5000",
        "CODESTRAL_KEY": "sk-codestral",
    }
    settings = resolve_settings({"model": "codestral-2405"}, environ)
    assert settings.server_url == "http://env.vm.test:5000"
    assert settings.model == "codestral-2405"
    assert settings.api_key is None
    assert settings.headers == {}
    assert settings.profile == "small"


def test_model_routing_with_no_default_and_no_candidate_chooses_nothing(tmp_path: Path) -> None:
    config = config_of(tmp_path, BASE.replace('default_profile = "small"\n', ""))
    assert choose_profile(config, flag=None, environ={}, model_flag="other", server_flag=None) == (
        None,
        "none",
    )


def test_model_routing_among_several_without_the_default_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("codestral-2405", "small-2409").replace(
        'default_profile = "small"', 'default_profile = "codestral"'
    )
    text += '\n[profiles.third]\nserver_url = "http://third.vm.test:5000"\nmodel = "m3"\n'
    config = config_of(tmp_path, text.replace('default_profile = "codestral"', ""))
    with pytest.raises(ConfigError) as caught:
        choose_profile(config, flag=None, environ={}, model_flag="small-2409", server_flag=None)
    assert caught.value.message == (
        "model small-2409 is declared by several profiles: small, codestral"
    )
    assert caught.value.hint == "choose one with -p/--profile"


def test_the_profile_variable_is_checked_and_named(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    assert choose_profile(
        config,
        flag=None,
        environ={"OUTSCALE_PROFILE": "codestral"},
        model_flag="small-2409",
        server_flag=None,
    ) == ("codestral", "env")
    with pytest.raises(ConfigError) as caught:
        choose_profile(
            config, flag=None, environ={"OUTSCALE_PROFILE": "nope"}, model_flag=None,
            server_flag=None,
        )  # fmt: skip
    assert caught.value.message == "unknown profile 'nope' (known: small, codestral)"


def test_an_unknown_profile_flag_names_the_known_ones_and_the_file(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    with pytest.raises(ConfigError) as caught:
        choose_profile(config, flag="nope", environ={}, model_flag=None, server_flag=None)
    assert caught.value.message == "unknown profile 'nope' (known: small, codestral)"
    assert caught.value.hint == (
        f"add it with 'outscale-cli config add nope --server-url URL', or see {config.path}"
    )


def test_an_unknown_profile_with_no_profiles_says_none_yet(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        Config(tmp_path / "c.toml").profile("p")
    assert caught.value.message == "unknown profile 'p' (known: none yet)"


def test_choose_names_the_profile_and_why(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    chosen = choose({"model": "codestral-2405"}, {}, profile_flag=None, config_flag=str(path))
    assert (chosen.name, chosen.why) == ("codestral", "model")
    assert chosen.profile is not None and chosen.profile.values["model"] == "codestral-2405"
    nothing = choose({}, {}, profile_flag=None, config_flag=str(tmp_path / "none.toml"))
    assert (nothing.name, nothing.why, nothing.profile) == (None, "none", None)


# -- where the config file is ---------------------------------------------------------------------


def test_config_path_flag_then_variable_then_platform(tmp_path: Path) -> None:
    assert config_path(str(tmp_path / "a.toml"), {"OUTSCALE_CONFIG": "b.toml"}) == (
        tmp_path / "a.toml"
    )
    assert config_path(None, {"OUTSCALE_CONFIG": str(tmp_path / "b.toml")}) == tmp_path / "b.toml"
    assert config_path(None, {"OUTSCALE_CONFIG": ""}).name == "config.toml"
    assert config_path(None, {}).parent.name == "outscale-cli"
    assert config_path("~/c.toml", {}) == Path.home() / "c.toml"


# -- reading the file -----------------------------------------------------------------------------


def test_a_missing_file_is_no_text_and_an_empty_config(tmp_path: Path) -> None:
    assert read_text(tmp_path / "none.toml") is None
    config = load_config(tmp_path / "none.toml")
    assert (config.exists, config.profiles, config.default_profile) == (False, {}, None)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read_text(tmp_path)
    assert caught.value.message == f"config file {tmp_path} is a directory"


def test_a_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ConfigError) as caught:
        read_text(path)
    assert caught.value.message == f"config file {path} is larger than 1,048,576 bytes"
    path.write_bytes(b"#" * (1024 * 1024))
    assert read_text(path) == "#" * (1024 * 1024)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.toml"
    path.write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        read_text(path)
    assert caught.value.message == f"config file {path} is not UTF-8 text"


def test_an_unreadable_file_names_why(tmp_path: Path) -> None:
    path = tmp_path / "loop.toml"
    path.symlink_to(path)  # reading it fails with "Too many levels of symbolic links"
    with pytest.raises(ConfigError) as caught:
        read_text(path)
    assert caught.value.message.startswith(f"cannot read config file {path}: ")
    assert "symbolic links" in caught.value.message


def test_a_toml_error_names_the_file_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.p]\nmodel = "m"\ntimeout = \n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}:3: not valid TOML: ")
    assert caught.value.hint is not None and "config add" in caught.value.hint


def test_a_default_profile_that_is_not_a_profile(tmp_path: Path) -> None:
    path = write(tmp_path, 'default_profile = "nope"\n\n[profiles.p]\nmodel = "m"\n')
    assert refusal(path) == (
        f"{path}:1: default_profile names 'nope', which is not a profile (known: p)"
    )
    path = write(tmp_path, 'default_profile = "nope"\n')
    assert refusal(path).endswith("which is not a profile (known: none)")


# -- each mistake names its line, its key and what was expected -----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'colour = "red"\n',
            "1: unknown key 'colour': expected 'default_profile', 'history' or [profiles.NAME]"
            " tables",
        ),
        ("default_profile = 3\n", "1: default_profile: expected the name of a profile"),
        ('profiles = "x"\n', "1: 'profiles' must be tables [profiles.NAME]"),
        ('[profiles]\np = "x"\n', "2: profile 'p' must be a table [profiles.p]"),
        ('[profiles."a b"]\nmodel = "m"\n', "1: 'a b' is not a profile name: a profile name"),
        (
            '[profiles.p]\nmodel = "m"\nmodle = "m"\n',
            "3: [profiles.p] modle: unknown key; expected one of: server_url, model, api_key_env,",
        ),
        (
            '[profiles.p]\nmodel = "m"\nserver_url = "ftp://h"\n',
            "3: [profiles.p] server_url: the scheme must be http or https, not 'ftp'; expected "
            + EXPECTED["server_url"],
        ),
    ],
)
def test_file_mistakes_name_the_line_and_what_was_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    assert refusal(path).startswith(f"{path}:{expected}")


def test_the_first_mistake_in_file_order_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.b]\nretries = "x"\n\n[profiles.a]\ntimeout = "y"\n')
    assert refusal(path).startswith(f"{path}:2: [profiles.b] retries: ")


def test_a_mistake_in_an_inline_table_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.p]\nmodel = "m"\nheaders = { "X-A" = "1", "B C" = "2" }\n')
    assert refusal(path).startswith(f"{path}:3: [profiles.p] headers: ")


def test_a_key_after_a_multiline_string_keeps_its_line(tmp_path: Path) -> None:
    text = '[profiles.p]\napi_key_cmd = """pass\nshow\nretries = 1\n"""\nretries = "x"\n'
    path = write(tmp_path, text)
    assert refusal(path).startswith(f"{path}:6: [profiles.p] retries: ")


def test_locator_lines_of_tables_dotted_and_quoted_keys() -> None:
    text = (
        "# a comment\n"
        "default_profile = 'a'\n"
        "\n"
        "[profiles.'a.b']\n"
        'model = "m"\n'
        '[profiles."c"]\n'
        "headers.X-One = '1'\n"
        "note = '''one\n"
        "timeout = 3\n"
        "'''\n"
        "timeout = 4\n"
    )
    locate = Locator(text)
    assert locate.line(("default_profile",)) == 2
    assert locate.line(("profiles", "a.b")) == 4
    assert locate.line(("profiles", "a.b", "model")) == 5
    assert locate.line(("profiles", "a.b", "retries")) == 4  # the nearest table
    assert locate.line(("profiles", "c", "headers", "X-One")) == 7
    assert locate.line(("profiles", "c", "timeout")) == 11
    assert locate.line(("nothing",)) is None


def test_locator_takes_the_first_line_of_a_key() -> None:
    locate = Locator("[t]\na = 1\n[t]\na = 2\n")
    assert locate.line(("t", "a")) == 2
    assert locate.line(("t",)) == 1


def test_a_multiline_string_opened_and_closed_on_one_line_hides_nothing() -> None:
    locate = Locator("[t]\na = '''x'''\nb = 2\n")
    assert locate.line(("t", "b")) == 3


# -- what `config add` refuses before writing -----------------------------------------------------


def test_profile_problem_of_a_good_profile_is_none() -> None:
    assert profile_problem({"name": "p", "server_url": "http://h", "retries": 3}) is None


def test_profile_problem_names_the_bad_key_and_why() -> None:
    assert profile_problem({"name": "p", "retries": -1}) == (
        "retries",
        "expected a whole number, 0 or more (at most 100)",
    )
    key, reason = profile_problem({"name": "p", "server_url": "ftp://h"}) or ("", "")
    assert key == "server_url" and reason.startswith("the scheme must be http or https")


def test_profile_problem_of_a_bad_name() -> None:
    assert profile_problem({"name": "a b", "model": "m"}) == (
        "name",
        "a profile name is not empty and holds no spaces or control characters",
    )


def test_profile_problem_of_two_keys_at_once() -> None:
    assert profile_problem({"name": "p", "api_key_env": "A", "api_key_cmd": "b"}) == (
        "",
        "give one of api_key, api_key_env, api_key_cmd, not several; expected another value",
    )


# -- completion reads the names only, yet refuses what a command refuses --------------------------


def test_read_names_gives_the_tables_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    names = read_names(path)
    assert list(names) == ["small", "codestral"]
    assert names["codestral"]["model"] == "codestral-2405"
    assert read_names(tmp_path / "none.toml") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("other = 1\n", "not a config file of profiles"),
        ("profiles = 3\n", "not a config file of profiles"),
        ("[profiles]\np = 1\n", "[profiles.p] is not a profile"),
        ('[profiles.p]\nmodle = "m"\n', "[profiles.p] is not a profile"),
    ],
)
def test_read_names_refuses_what_is_not_a_config(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_names(path)
    assert caught.value.message == f"{path}: {expected}"


def test_read_names_refuses_a_literal_key_others_can_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[profiles.p]\napi_key = "sk-1"\n', 0o640)
    with pytest.raises(ConfigError) as caught:
        read_names(path)
    assert caught.value.message == f"{path}: a literal api_key in a file that others can read"
    path.chmod(0o600)
    assert read_names(path) == {"p": {"api_key": "sk-1"}}


def test_read_names_accepts_every_profile_key(tmp_path: Path) -> None:
    keys = ("server_url", "model", "api_key_env", "timeout", "connect_timeout", "max_time",
            "retries", "ca_bundle", "insecure", "client_cert", "client_key", "proxy")  # fmt: skip
    path = write(tmp_path, "[profiles.p]\n" + "".join(f'{k} = "x"\n' for k in keys))
    assert set(read_names(path)["p"]) == set(keys)


# -- api_key_cmd ----------------------------------------------------------------------------------

PY = sys.executable


def test_the_key_command_prints_the_key(tmp_path: Path) -> None:
    assert key_from_command(f"{PY} -c \"print('  sk-cmd  ')\"", "p") == "sk-cmd"


def test_a_failing_key_command_shows_its_last_stderr_lines_without_the_key() -> None:
    script = (
        "import sys; print('sk-secret-key'); "
        "[print(f'line {i} sk-secret-key', file=sys.stderr) for i in range(5)]; sys.exit(3)"
    )
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "{script}"', "p")
    assert caught.value.message == (
        "profile p: api_key_cmd exited with status 3: "
        "line 2 ******** / line 3 ******** / line 4 ********"
    )
    assert caught.value.hint is not None and caught.value.hint.startswith(
        "run it yourself to see why: "
    )


def test_a_key_command_that_prints_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "pass"', "p")
    assert caught.value.message == "profile p: api_key_cmd printed no key"


def test_a_key_command_that_fails_silently() -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "raise SystemExit(4)"', "p")
    assert caught.value.message == "profile p: api_key_cmd exited with status 4"


def test_a_key_command_that_cannot_be_found_or_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command("no-such-command-anywhere --x", "p")
    assert caught.value.message == (
        "profile p: api_key_cmd: no-such-command-anywhere: command not found"
    )
    with pytest.raises(ConfigError) as caught:
        key_from_command(str(tmp_path), "p")
    assert caught.value.message.startswith(f"profile p: api_key_cmd: cannot run {tmp_path}: ")


@pytest.mark.parametrize(("command", "why"), [("'open", "cannot be parsed"), ("  ", "is empty")])
def test_a_key_command_that_is_not_a_command(command: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command(command, "p")
    assert caught.value.message.startswith(f"profile p: api_key_cmd {why}")


def test_a_key_command_printing_without_end_is_stopped(tmp_path: Path) -> None:
    script = tmp_path / "yes.py"
    script.write_text("import sys\nwhile True:\n    sys.stdout.write('k' * 4096)\n")
    with pytest.raises(ConfigError) as caught:
        key_from_command(f"{PY} {script}", "p", timeout=20)
    assert caught.value.message == "profile p: api_key_cmd printed more than 65,536 bytes"
    assert caught.value.hint == "check that it prints the key and ends, alone"


def test_a_key_command_that_hangs_is_stopped_within_its_budget() -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command(
            f'{PY} -c "import time; time.sleep(30)"', "p", timeout=0.5, budget="--max-time 1"
        )
    assert (
        caught.value.message == "profile p: api_key_cmd did not finish within 0.5 s (--max-time 1)"
    )


def test_the_first_mistake_by_line_is_reported_whatever_the_field_order(tmp_path: Path) -> None:
    # pydantic checks timeout before retries; the file has retries first: it is the one named.
    path = write(tmp_path, '[profiles.p]\nretries = "x"\ntimeout = "y"\n')
    assert refusal(path).startswith(f"{path}:2: [profiles.p] retries: ")


def test_profile_problem_without_a_name_checks_the_values() -> None:
    assert profile_problem({"retries": -1}) == (
        "retries",
        "expected a whole number, 0 or more (at most 100)",
    )


def test_profile_problem_of_a_name_that_is_not_text() -> None:
    assert profile_problem({"name": 3, "model": "m"}) == ("name", "not a profile name")


def test_where_without_a_line_is_the_path(tmp_path: Path) -> None:
    assert Config(tmp_path / "c.toml").where("profiles", "p") == str(tmp_path / "c.toml")
    config = load_config(write(tmp_path, BASE))
    assert config.exists is True
    assert config.where("nothing") == str(config.path)
    assert config.where("profiles", "codestral", "model") == f"{config.path}:9"


def test_a_profiles_key_says_where_it_came_from(tmp_path: Path) -> None:
    from outscale_cli.config import ProfileRef

    config = Config(tmp_path / "c.toml")
    unset = ProfileRef("p", {"api_key_env": "GAPS_UNSET_KEY"}, config, {})
    with pytest.raises(ConfigError) as caught:
        unset.key()
    assert caught.value.message == "profile p: api_key_env names GAPS_UNSET_KEY, which is not set"
    assert caught.value.hint == "export GAPS_UNSET_KEY=... first"
    command = ProfileRef("p", {"api_key_cmd": f"{PY} -c \"print('sk-c')\""}, config, {})
    assert command.key() == ("api_key_cmd", "sk-c")
    literal = ProfileRef("p", {"api_key": "sk-l"}, config, {})
    assert literal.key() == ("api_key", "sk-l")
    assert ProfileRef("p", {"model": "m"}, config, {}).key() is None


def test_a_key_command_is_stopped_with_its_budget_named(tmp_path: Path) -> None:
    from outscale_cli.config import ProfileRef

    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(30)\n")
    ref = ProfileRef("p", {"api_key_cmd": f"{PY} {script}"}, Config(tmp_path / "c.toml"), {})
    with pytest.raises(ConfigError) as caught:
        ref.key(0.3, "--connect-timeout 0.3")
    assert caught.value.message == (
        "profile p: api_key_cmd did not finish within 0.3 s (--connect-timeout 0.3)"
    )


def test_a_slow_key_command_within_its_time_gives_the_key(tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(0.3)\nprint('sk-slow')\n")
    assert key_from_command(f"{PY} {script}", "p", timeout=10.0) == "sk-slow"


def test_a_key_command_that_cannot_run_says_why(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho k\n")
    script.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        key_from_command(str(script), "p")
    assert caught.value.message == f"profile p: api_key_cmd: cannot run {script}: Permission denied"


def test_a_key_command_and_what_it_started_are_stopped(tmp_path: Path) -> None:
    import os
    import time

    pid_file = tmp_path / "child.pid"
    script = tmp_path / "spawn.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(ConfigError):
        key_from_command(f"{PY} {script}", "p", timeout=6.0)  # (2 start-ups, loaded)
    child = int(pid_file.read_text())
    for _ in range(250):  # the kill is sent before key_from_command returns; reaping may lag
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.02)
    else:
        os.kill(child, 9)
        raise AssertionError("the command's own child was left running")


def test_the_key_is_never_shown_even_split_into_words() -> None:
    script = (
        "import sys; print('alpha-key beta-key'); "
        "print('had alpha-key and beta-key and ab', file=sys.stderr); sys.exit(2)"
    )
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "{script}"', "p")
    assert caught.value.message == (
        "profile p: api_key_cmd exited with status 2: had ******** and ******** and ab"
    )


def test_a_long_failure_message_is_cut_to_300_characters() -> None:
    script = "import sys; print('x' * 400, file=sys.stderr); sys.exit(1)"
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "{script}"', "p")
    said = caught.value.message.split(": ", 1)[1].split(": ", 1)[1]
    assert said == "x" * 299 + "…"


def test_a_multiline_string_right_after_the_equals_sign(tmp_path: Path) -> None:
    text = '[profiles.p]\napi_key_cmd="""pass\nretries = 1\n"""\nretries = "x"\n'
    assert refusal(write(tmp_path, text)).startswith(f"{tmp_path / 'config.toml'}:5: ")


def test_an_empty_multiline_string_on_one_line_opens_nothing() -> None:
    locate = Locator('[t]\na = """"""\nb = 2\n')
    assert locate.line(("t", "b")) == 3


def test_an_unreadable_file_names_the_reason_alone(tmp_path: Path) -> None:
    path = tmp_path / "loop.toml"
    path.symlink_to(path)
    with pytest.raises(ConfigError) as caught:
        read_text(path)
    assert caught.value.message == (
        f"cannot read config file {path}: Too many levels of symbolic links"
    )


def test_the_toml_error_hint_and_the_literal_key_message_exactly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "[profiles.p\n"))
    assert caught.value.hint == (
        "fix the line named above, or recreate the file with 'outscale-cli config add'"
    )
    path = write(tmp_path, '[profiles.p]\napi_key = "sk-1"\n', 0o640)
    assert refusal(path) == (
        f"{path}:2: [profiles.p] api_key: a literal api_key is accepted only in a file "
        "readable by its owner alone"
    )


def test_read_names_of_a_file_without_profiles_or_with_bad_toml(tmp_path: Path) -> None:
    assert read_names(write(tmp_path, 'default_profile = "x"\n')) == {}
    path = write(tmp_path, "[profiles.p\n")
    with pytest.raises(ConfigError) as caught:
        read_names(path)
    assert caught.value.message.startswith(f"{path}:1: not valid TOML: ")


def test_a_key_after_a_multiline_array_keeps_its_line(tmp_path: Path) -> None:
    locate = Locator("[t]\na = [\n  1,\n]\nb = 2\n")
    assert locate.line(("t", "b")) == 5


def test_a_key_command_output_that_is_not_utf8_is_replaced(tmp_path: Path) -> None:
    script = tmp_path / "latin.py"
    script.write_text("import sys\nsys.stdout.buffer.write(b'k\\xe9y')\n")
    assert key_from_command(f"{PY} {script}", "p") == "k\ufffdy"
    script.write_text("import sys\nsys.stderr.buffer.write(b'caf\\xe9')\nsys.exit(1)\n")
    with pytest.raises(ConfigError) as caught:
        key_from_command(f"{PY} {script}", "p")
    assert caught.value.message == "profile p: api_key_cmd exited with status 1: caf\ufffd"


def test_the_hint_never_repeats_a_key_written_in_the_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        key_from_command("sh -c 'echo sk-in-the-command; exit 1'", "p")
    assert caught.value.hint == "run it yourself to see why: sh -c 'echo ********; exit 1'"


def test_short_words_of_a_key_are_hidden_from_four_characters() -> None:
    script = (
        "import sys; print('ab12 cd3'); print('saw ab12 and cd3', file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "{script}"', "p")
    assert (
        caught.value.message == "profile p: api_key_cmd exited with status 1: saw ******** and cd3"
    )


def test_a_failure_message_of_exactly_300_characters_is_whole() -> None:
    script = "import sys; print('y' * 300, file=sys.stderr); sys.exit(1)"
    with pytest.raises(ConfigError) as caught:
        key_from_command(f'{PY} -c "{script}"', "p")
    assert caught.value.message == "profile p: api_key_cmd exited with status 1: " + "y" * 300


def test_a_key_of_exactly_the_output_limit_is_accepted(tmp_path: Path) -> None:
    script = tmp_path / "long.py"
    script.write_text("import sys\nsys.stdout.write('k' * 65536)\n")
    assert key_from_command(f"{PY} {script}", "p", timeout=20) == "k" * 65536


def test_a_key_command_that_closes_its_output_and_hangs_is_stopped(tmp_path: Path) -> None:
    script = tmp_path / "quiet.py"
    script.write_text("import os, time\nos.close(1)\nos.close(2)\ntime.sleep(5)\n")
    with pytest.raises(ConfigError) as caught:
        key_from_command(f"{PY} {script}", "p", timeout=0.5, budget="b")
    assert caught.value.message == "profile p: api_key_cmd did not finish within 0.5 s (b)"


def test_the_default_among_several_declaring_the_model_is_chosen_by_model(tmp_path: Path) -> None:
    config = config_of(tmp_path, BASE.replace("codestral-2405", "small-2409"))
    assert choose_profile(
        config, flag=None, environ={}, model_flag="small-2409", server_flag=None
    ) == ("small", "model")


def test_an_empty_key_command_is_refused_by_the_reader() -> None:
    assert profile_problem({"name": "p", "api_key_cmd": "  "}) == (
        "api_key_cmd",
        "it is empty; expected a command line, as a string",
    )


def test_read_names_accepts_the_history_switch(tmp_path: Path) -> None:
    path = write(tmp_path, 'history = false\n\n[profiles.p]\nmodel = "m"\n')
    assert read_names(path) == {"p": {"model": "m"}}


def test_a_key_command_has_thirty_seconds_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outscale_cli import config as config_module
    from outscale_cli.config import ProfileRef

    calls: list[tuple[str, str, float, str]] = []

    def key_from_command(command: str, profile: str, timeout: float, budget: str) -> str:
        calls.append((command, profile, timeout, budget))
        return "sk-c"

    monkeypatch.setattr(config_module, "key_from_command", key_from_command)
    ref = ProfileRef("p", {"api_key_cmd": "get-key"}, Config(tmp_path / "c.toml"), {})
    assert ref.key() == ("api_key_cmd", "sk-c")
    assert calls == [("get-key", "p", 30.0, "30 s")]


class Endless:
    """A file that would never end (a device, a FIFO): what read_text asks of it is recorded."""

    def __init__(self) -> None:
        self.asked: list[int | None] = []

    def open(self, mode: str) -> Endless:
        assert mode == "rb"
        return self

    def __enter__(self) -> Endless:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def read(self, size: int | None = None) -> bytes:
        self.asked.append(size)
        return b"#" * (size if size is not None else 3 * 1024 * 1024)

    def __str__(self) -> str:
        return "endless.toml"


def test_a_config_file_is_read_one_byte_past_its_limit_and_no_further() -> None:
    endless = Endless()
    with pytest.raises(ConfigError) as caught:
        read_text(endless)  # type: ignore[arg-type]
    assert caught.value.message == "config file endless.toml is larger than 1,048,576 bytes"
    assert endless.asked == [1024 * 1024 + 1]


def test_read_top_gives_the_top_level_values_as_written(tmp_path: Path) -> None:
    from outscale_cli.config import read_top

    path = write(tmp_path, 'history = false\ndefault_profile = "p"\n\n[profiles.p]\nmodel = 3\n')
    assert read_top(path) == {
        "history": False,
        "default_profile": "p",
        "profiles": {"p": {"model": 3}},  # unchecked: the settings check it later
    }
    assert read_top(tmp_path / "none.toml") == {}
    assert read_top(write(tmp_path, "[profiles.p\n")) == {}  # not TOML: said by the settings


def test_a_key_command_has_thirty_seconds_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from outscale_cli import config as config_module

    runs: list[tuple[list[str], str, float, str]] = []

    def run_bounded(argv: list[str], where: str, timeout: float, budget: str) -> tuple:
        runs.append((argv, where, timeout, budget))
        return 0, b"sk-default\n", b""

    monkeypatch.setattr(config_module, "_run_bounded", run_bounded)
    assert key_from_command("get-key --now", "p") == "sk-default"
    assert runs == [(["get-key", "--now"], "profile p: api_key_cmd", 30.0, "30 s")]


def test_a_key_command_gets_no_standard_input(tmp_path: Path) -> None:
    # Whatever is piped to outscale-cli (the prompt) is not the key command's to read.
    import os

    read_end, write_end = os.pipe()
    os.write(write_end, b"the prompt piped in\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    try:
        script = "import sys; print(sys.stdin.read().strip() or 'sk-no-input')"
        assert key_from_command(f'{PY} -c "{script}"', "p", timeout=20) == "sk-no-input"
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(read_end)


def test_a_key_command_may_use_all_of_a_short_budget() -> None:
    # Less than a second is time enough for a command that answers at once.
    assert key_from_command("sh -c 'echo sk-quick'", "p", timeout=0.9) == "sk-quick"


def spawner(tmp_path: Path, then: str) -> tuple[str, Path]:
    """A key command that starts a child sleeping 60 s, holding its output open (or not), then
    `then`; the child's pid is written to a file."""
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "spawn.py"
    script.write_text(
        "import subprocess, sys\n"
        "out = sys.stdout if 'hold' in sys.argv else subprocess.DEVNULL\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],\n"
        "                         stdout=out, stderr=subprocess.DEVNULL)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        f"{then}\n"
    )
    return f"{PY} {script}", pid_file


def alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_key_commands_child_holding_its_output_is_stopped(tmp_path: Path) -> None:
    import os
    import time

    command, pid_file = spawner(tmp_path, "print('sk-early', flush=True)")  # then it exits
    with pytest.raises(ConfigError) as caught:
        key_from_command(f"{command} hold", "p", timeout=6.0, budget="b")
    assert caught.value.message == "profile p: api_key_cmd did not finish within 6.0 s (b)"
    child = int(pid_file.read_text())
    for _ in range(250):  # the kill is sent before key_from_command returns; reaping may lag
        if not alive(child):
            break
        time.sleep(0.02)
    else:
        os.kill(child, 9)
        raise AssertionError("the command's own child was left running")


def test_a_key_commands_helper_left_running_is_not_stopped_when_it_succeeds(
    tmp_path: Path,
) -> None:
    import os

    command, pid_file = spawner(tmp_path, "print('sk-ok')")  # an agent left behind, say
    try:
        assert key_from_command(command, "p", timeout=20) == "sk-ok"
        assert alive(int(pid_file.read_text()))
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)
