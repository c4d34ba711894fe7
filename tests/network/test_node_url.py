"""A network job's node URL: the node's address under ``node_domain`` (reference §4.1), or the
``network_node_url`` template; and what the node commands say before any node is involved."""

from __future__ import annotations

from pathlib import Path

import pytest

from nosana_tui.client.network import node_url
from nosana_tui.settings import NODE_URL_TEMPLATE, SettingError, load_settings
from tests.network.standin import NODE, Standin
from tests.network.test_cli import JOB_FILE, cli


def test_the_node_url_is_its_address_under_the_domain() -> None:
    url = node_url(NODE, NODE_URL_TEMPLATE, "node.k8s.prd.nos.ci")
    assert url == f"https://{NODE}.node.k8s.prd.nos.ci"
    assert node_url(NODE, "http://127.0.0.1:5123/", "node.k8s.prd.nos.ci") == (
        "http://127.0.0.1:5123"
    )
    with pytest.raises(ValueError, match="not a Solana address"):
        node_url("evil.example/x", NODE_URL_TEMPLATE, "node.k8s.prd.nos.ci")


def test_the_template_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).network_node_url == "https://{address}.{domain}"
    monkeypatch.setenv("NOSANA_TUI_NETWORK_NODE_URL", "http://{address}.{domain}:8123")
    assert load_settings(None).network_node_url == "http://{address}.{domain}:8123"
    for bad in ("{scheme}://{address}", "ftp://{address}", "{address}", "https://{}"):
        monkeypatch.setenv("NOSANA_TUI_NETWORK_NODE_URL", bad)
        with pytest.raises(SettingError, match="NOSANA_TUI_NETWORK_NODE_URL"):
            load_settings(None)


def test_a_queued_job_has_no_node_yet(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "run", str(JOB_FILE), "--market", "nvidia-3090", "--yes")
    address = done.stdout.strip()
    logs = cli(standin, tmp_path, "logs", address, "--network", "mainnet")
    assert logs.returncode == 1 and "queued: no node has taken it yet" in logs.stderr
    flags = cli(standin, tmp_path, "logs", address, "--network", "mainnet", "--tail", "5")
    assert flags.returncode == 2 and "not --network" in flags.stderr
