"""The settings in one model: defaults, where each value comes from (file < environment < flag),
a clear error naming the source for every value that cannot be used, and the README's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nosana_tui import entry
from nosana_tui.config import local_node_url, paths
from nosana_tui.engine.runner import Timing
from nosana_tui.node import store
from nosana_tui.node.serve import timing_of
from nosana_tui.settings import (
    DEFAULT_LOG_RETENTION,
    MIN_LOG_RETENTION,
    SettingError,
    Settings,
    env_name,
    load_settings,
    shown_value,
    table_markdown,
)
from nosana_tui.ui.settings import load_settings as load_ui_settings

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the folders (tests/conftest.py) come from the environment the tests run in."""
    theirs = {env_name(name) for name in Settings.model_fields}  # NOSANA_API_KEY and the like
    for name in list(os.environ):
        if (name.startswith("NOSANA_TUI_") or name in theirs) and name not in (
            "NOSANA_TUI_CONFIG_DIR",
            "NOSANA_TUI_DATA_DIR",
        ):
            monkeypatch.delenv(name)


def _config(text: str) -> Path:
    file = paths().config_file
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
    return file


def _error(config_file: Path | None = None, flags: dict[str, object] | None = None) -> str:
    with pytest.raises(SettingError) as raised:
        load_settings(config_file, flags)
    return str(raised.value)


def test_defaults_agree_with_what_their_users_assume() -> None:
    settings = load_settings(paths().config_file)  # no file: every default
    assert all(settings.source(name) == "default" for name in ("node", "token", "theme"))
    assert settings.node == "http://127.0.0.1:5001" == local_node_url()
    assert settings.token is None and settings.allow_http is False
    assert settings.keys == {} and settings.theme == "nosana-dark"
    # the numbers live in the store and the engine too: they must not drift apart
    assert settings.log_retention == DEFAULT_LOG_RETENTION == store.DEFAULT_LOG_RETENTION
    assert MIN_LOG_RETENTION == store.MIN_LOG_RETENTION
    assert timing_of(settings) == Timing()


def test_file_then_environment_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    file = _config(
        'theme = "nosana-light"\nhealth_interval = 5\nstop_timeout = "3"\n'
        'log_retention = "512MiB"\n[keys]\n"app.quit" = "ctrl+q"\n'
    )
    monkeypatch.setenv("NOSANA_TUI_HEALTH_INTERVAL", "2.5")
    monkeypatch.setenv("NOSANA_TUI_STOP_TIMEOUT", "4s")
    monkeypatch.setenv("NOSANA_TUI_THEME", "")  # empty: not set, as it always was
    settings = load_settings(file, {"stop_timeout": "1", "health_interval": None})
    assert settings.theme == "nosana-light" and settings.source("theme") == "file"
    assert settings.keys == {"app.quit": "ctrl+q"}
    assert settings.log_retention == 512 << 20 and settings.source("log_retention") == "file"
    assert settings.health_interval == 2.5 and settings.source("health_interval") == "env"
    assert settings.stop_timeout == 1.0 and settings.source("stop_timeout") == "flag"
    assert settings.source("node") == "default"
    assert timing_of(settings) == Timing(continuous_interval=2.5, stop_timeout=1.0)


def test_the_reviewers_value_is_an_error_that_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_TUI_HEALTH_INTERVAL", "fast")
    assert _error() == (
        "NOSANA_TUI_HEALTH_INTERVAL='fast' is not a number of seconds: write e.g. 10 or 0.5 "
        "(more than 0)"
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HEALTH_INTERVAL", "0", "is too short: give a number of seconds more than 0"),
        ("HEALTH_INTERVAL", "nan", "is not a number of seconds"),
        ("STOP_TIMEOUT", "-1", "is too short: give a number of seconds at least 0"),
        ("LOG_RETENTION", "lots", "is not a size: write bytes, or a number with a unit"),
        ("LOG_RETENTION", "100KiB", "is less than the least the agent keeps, 1MiB"),
        ("ALLOW_HTTP", "maybe", "is not yes or no: write 1 or 0"),
        ("NODE", "127.0.0.1:5001", "is not a node URL: write one like http://127.0.0.1:5001"),
        ("NODE", "http://host:99999", "is not a node URL"),
        ("KEYS", "ctrl+q", "is not a table of binding id to keys"),
        ("KEYS", '{"app.quit": 1}', "is not a table of binding id to keys"),
    ],
)
def test_a_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(f"NOSANA_TUI_{name}", value)
    assert _error().startswith(f"NOSANA_TUI_{name}={value!r} {says}")


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('health_interval = "fast"', "health_interval = 'fast' is not a number of seconds"),
        ("log_retention = true", "log_retention = True is not a size"),
        ("theme = 3", "theme = 3 is not a theme name: write one like nosana-dark"),
        ('keys = "ctrl+q"', "keys = 'ctrl+q' is not a table of binding id to keys"),
        ("token = 5", "token = '***' is not a token"),
        ("helth_interval = 3", "'helth_interval' is not a setting; the settings are: node,"),
        ('data_dir = "/x"', "data_dir cannot be set in this file; set NOSANA_TUI_DATA_DIR"),
        ("theme = ", "not valid TOML: Invalid value (at line 1, column 9)"),
    ],
)
def test_a_bad_file_value_names_the_file_and_key(line: str, says: str) -> None:
    file = _config(line + "\n")
    assert _error(file).startswith(f"{file}: {says}")


def test_a_bad_flag_value_names_the_flag() -> None:
    message = _error(None, {"log_retention": "2 gigs"})
    assert message.startswith("--log-retention '2 gigs' is not a size")


def test_every_bad_value_is_told_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    file = _config('theme = ""\n')
    monkeypatch.setenv("NOSANA_TUI_STOP_TIMEOUT", "soon")
    lines = _error(file).split("\n  ")
    assert len(lines) == 2
    assert lines[0].startswith("NOSANA_TUI_STOP_TIMEOUT='soon'")
    assert lines[1].startswith(f"{file}: theme = ''")


def test_secrets_are_masked_and_never_in_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_TUI_TOKEN", "hunter2")
    settings = load_settings(None)
    assert settings.token is not None and settings.token.get_secret_value() == "hunter2"
    assert shown_value(settings, "token") == "***" and "hunter2" not in repr(settings)


@pytest.mark.parametrize(("text", "allowed"), [("1", True), ("yes", True), ("0", False)])
def test_allow_http_reads_yes_and_no(
    monkeypatch: pytest.MonkeyPatch, text: str, allowed: bool
) -> None:
    monkeypatch.setenv("NOSANA_TUI_ALLOW_HTTP", text)
    assert load_settings(None).allow_http is allowed


def test_the_ui_reads_its_share_from_the_same_place(monkeypatch: pytest.MonkeyPatch) -> None:
    _config('theme = "nosana-ansi"\n[keys]\n"app.quit" = "ctrl+q"\n')  # today's files still work
    ui = load_ui_settings(paths())
    assert ui.theme == "nosana-ansi" and ui.keys == {"app.quit": "ctrl+q"} and ui.problems == []
    monkeypatch.setenv("NOSANA_TUI_KEYS", '{"app.quit": "ctrl+x"}')
    assert load_ui_settings(paths()).keys == {"app.quit": "ctrl+x"}


def test_the_ui_stops_before_it_starts_on_a_bad_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _config('theme = ["dark"]\n')
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert entry.main(["--node", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {paths().config_file}: theme = ['dark'] is not a theme name")


def test_the_readme_quotes_the_settings_table() -> None:
    assert table_markdown() in README.read_text(encoding="utf-8"), (
        "README.md must quote nosana_tui.settings.table_markdown() as it is now"
    )


# the Nosana network's settings go by the names the Nosana tools and the issue give them
NOSANA_NAMES = {
    "network": "NOSANA_NETWORK",
    "api_url": "NOSANA_API_URL",
    "node_domain": "NOSANA_NODE_DOMAIN",
    "pin_url": "NOSANA_PIN_URL",
    "ipfs_gateway": "NOSANA_IPFS_GATEWAY",
    "api_key": "NOSANA_API_KEY",
    "pin_jwt": "NOSANA_PIN_JWT",
    "wallet": "NOSANA_WALLET",
    "hf_endpoint": "HF_ENDPOINT",  # the hub's own variable, which huggingface_hub reads too
}


def test_every_setting_is_described_with_its_variable() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert env_name(name) == NOSANA_NAMES.get(name, f"NOSANA_TUI_{name.upper()}")


# --- the Nosana network -------------------------------------------------------------------------


def test_the_network_chooses_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    mainnet = load_settings(None)
    assert mainnet.network == "mainnet" and mainnet.api_url == "https://api.nosana.com"
    assert mainnet.node_domain == "node.k8s.prd.nos.ci"
    assert mainnet.pin_url == "https://api.pinata.cloud"
    assert mainnet.ipfs_gateway == "https://nosana.mypinata.cloud/ipfs"
    assert mainnet.api_key is None
    assert all(mainnet.source(name) == "default" for name in NOSANA_NAMES)
    monkeypatch.setenv("NOSANA_NETWORK", " Devnet ")
    devnet = load_settings(None)
    assert devnet.network == "devnet" and devnet.source("network") == "env"
    assert devnet.api_url == "https://dashboard.k8s.dev.nos.ci/api"
    assert devnet.node_domain == "node.k8s.dev.nos.ci" and devnet.source("node_domain") == "default"


def test_each_host_may_be_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    file = _config(
        'network = "devnet"\napi_url = "http://127.0.0.1:8080/api/"\n'
        'node_domain = "Nodes.Example:8443"\n'
    )
    monkeypatch.setenv("NOSANA_IPFS_GATEWAY", "https://ipfs.example/ipfs/")
    monkeypatch.setenv("NOSANA_PIN_URL", "")  # empty: not set
    monkeypatch.setenv("NOSANA_TUI_API_URL", "http://ignored")  # not a name this setting has
    settings = load_settings(file)
    assert settings.api_url == "http://127.0.0.1:8080/api" and settings.source("api_url") == "file"
    assert settings.node_domain == "nodes.example:8443"
    assert settings.ipfs_gateway == "https://ipfs.example/ipfs"
    assert settings.source("ipfs_gateway") == "env"
    assert (
        settings.pin_url == "https://api.pinata.cloud" and settings.source("pin_url") == "default"
    )


def test_the_api_key_and_wallet_come_by_the_nosana_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOSANA_API_KEY", "nos_hunter2")
    monkeypatch.setenv("NOSANA_WALLET", "~/keys/me.json")
    settings = load_settings(None)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "nos_hunter2"
    assert shown_value(settings, "api_key") == "***" and "hunter2" not in repr(settings)
    assert settings.wallet == Path.home() / "keys" / "me.json"
    assert settings.source("api_key") == settings.source("wallet") == "env"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("NOSANA_NETWORK", "testnet", "is not a Nosana network: write mainnet or devnet"),
        ("NOSANA_API_URL", "api.nosana.com", "is not a URL: write one like https://api.nosana.com"),
        ("NOSANA_PIN_URL", "ftp://pin", "is not a URL: write one like https://api.pinata.cloud"),
        ("NOSANA_IPFS_GATEWAY", "gateway", "is not a URL: write one like https://nosana.mypinata"),
        ("NOSANA_NODE_DOMAIN", "https://node.k8s.prd.nos.ci", "is not a domain: write one like"),
        ("NOSANA_NODE_DOMAIN", "node.k8s/prd", "is not a domain"),
        ("NOSANA_NODE_DOMAIN", "-node.x", "is not a domain"),
        ("NOSANA_NODE_DOMAIN", "localhost:65536", "is not a domain"),
        ("NOSANA_NODE_DOMAIN", "localhost:", "is not a domain"),
        ("NOSANA_WALLET", "   ", "is not a file: write a path like ~/.nosana/nosana_key.json"),
    ],
)
def test_a_bad_network_setting_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    assert _error().startswith(f"{name}={value!r} {says}")


def test_a_bad_network_is_the_only_error() -> None:
    file = _config('network = "moon"\n')
    assert (
        _error(file) == f"{file}: network = 'moon' is not a Nosana network: write mainnet or devnet"
    )


def test_a_bad_api_key_is_masked_in_the_error() -> None:
    file = _config("api_key = 5\n")
    assert _error(file) == f"{file}: api_key = '***' is not a token: write it as text"


def test_info_shows_the_network_settings_and_hides_the_key() -> None:
    result = _program("info", "--json", env={"NOSANA_API_KEY": "nos_hunter2"})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["settings"]
    assert found["api_key"] == {"value": "***", "from": "env", "env": "NOSANA_API_KEY"}
    assert found["api_url"] == {
        "value": "https://api.nosana.com",
        "from": "default",
        "env": "NOSANA_API_URL",
    }
    assert "hunter2" not in result.stdout


# --- as a person meets them: the real program in a subprocess ----------------------------------


def _program(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


FAST = {"NOSANA_TUI_HEALTH_INTERVAL": "fast"}
SAYS = "NOSANA_TUI_HEALTH_INTERVAL='fast' is not a number of seconds: write e.g. 10 or 0.5"


@pytest.mark.parametrize(
    ("args", "prefix"),
    [
        (["node", "serve", "--port", "9"], "nosana-tui node: "),  # the reviewer's command
        (["node", "serve", "--port", "9", "--detach"], "error: "),
        (["ps"], "error: "),  # would start an agent: it is told here, not in the agent's log
        (["info"], "error: "),
    ],
)
def test_a_bad_setting_stops_a_command_with_exit_code_2(args: list[str], prefix: str) -> None:
    result = _program(*args, env={**FAST, "NOSANA_TUI_NODE": "http://127.0.0.1:9"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(prefix + SAYS), result.stderr
    assert "Traceback" not in result.stderr
    assert not paths().data_dir.exists()  # no agent started, nothing touched


def test_info_names_a_bad_file_value(tmp_path: Path) -> None:
    file = _config('log_retention = "lots"\n')
    result = _program("info", "--json", env={})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {file}: log_retention = 'lots' is not a size")


def test_info_prints_every_setting_with_its_source() -> None:
    _config('theme = "nosana-light"\n')
    result = _program("info", "--json", env={"NOSANA_TUI_TOKEN": "hunter2"})
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["settings"]
    assert set(found) == set(Settings.model_fields)
    assert found["theme"] == {"value": "nosana-light", "from": "file", "env": "NOSANA_TUI_THEME"}
    assert found["token"]["value"] == "***" and found["token"]["from"] == "env"
    assert found["log_retention"] == {
        "value": "1GiB",
        "from": "default",
        "env": "NOSANA_TUI_LOG_RETENTION",
    }
    assert "hunter2" not in result.stdout
    text = _program("info", env={"NOSANA_TUI_TOKEN": "hunter2"}).stdout
    assert "  token              ***  (env NOSANA_TUI_TOKEN)" in text
    assert "  theme              nosana-light  (file)" in text


@pytest.mark.parametrize("detach", [False, True])
def test_a_bad_node_serve_flag_is_told_before_anything_starts(detach: bool) -> None:
    args = ["node", "serve", "--port", "9", "--health-interval", "fast"]
    result = _program(*args, *(["--detach"] if detach else []), env={})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--health-interval 'fast' is not a number of seconds" in result.stderr
    assert "Traceback" not in result.stderr
    assert not paths().data_dir.exists()


def test_node_serve_flags_reach_the_agent_over_file_and_environment() -> None:
    """A detached agent started with flags runs with them: its first lines say which settings
    are not the defaults, and where each came from."""
    import socket

    _config("stop_timeout = 7\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"NOSANA_TUI_LOG_RETENTION": "64MiB"}
    result = _program(
        "node", "serve", "--port", str(port), "--detach", "--log-retention", "3MiB", env=env
    )
    try:
        assert result.returncode == 0, result.stderr
        log = (paths().data_dir / "agent.log").read_text()
        assert "settings: stop_timeout 7 (file), log_retention 3MiB (flag)\n" in log, log
    finally:  # (the pid file is the port's: agent.pid left agents running after the tests)
        pid_file = paths().agent_pid_file(port)
        assert pid_file.exists(), "the detached agent wrote no pid file"
        os.kill(int(pid_file.read_text().split()[0]), 15)


# --- resources: the services' endpoints and how long cached volumes are kept ----------------------


def test_resource_endpoints_and_keep_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(None)
    assert (defaults.s3_endpoint, defaults.hf_endpoint, defaults.ollama_registry) == (
        "",
        "https://huggingface.co",
        "https://registry.ollama.ai",
    )
    assert defaults.resource_keep == 86400
    monkeypatch.setenv("NOSANA_TUI_S3_ENDPOINT", "http://127.0.0.1:9000/")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:8080")
    monkeypatch.setenv("NOSANA_TUI_OLLAMA_REGISTRY", "http://127.0.0.1:5000")
    monkeypatch.setenv("NOSANA_TUI_RESOURCE_KEEP", "7d")
    found = load_settings(None)
    assert found.s3_endpoint == "http://127.0.0.1:9000"
    assert found.hf_endpoint == "http://127.0.0.1:8080" and found.source("hf_endpoint") == "env"
    assert found.ollama_registry == "http://127.0.0.1:5000"
    assert found.resource_keep == 7 * 86400


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NOSANA_TUI_RESOURCE_KEEP", "a while", "is not a duration: write seconds, or a number"),
        ("HF_ENDPOINT", "huggingface.co", "is not a URL: write one like https://huggingface.co"),
        ("NOSANA_TUI_S3_ENDPOINT", "ftp://x", "is not a URL: write one like http://127.0.0.1:9000"),
    ],
)
def test_resource_settings_that_cannot_be_used_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as caught:
        load_settings(None)
    assert f"{variable}={value!r} {message}" in str(caught.value)
