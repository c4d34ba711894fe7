"""The network commands in a subprocess against the stand-in gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.network.conftest import API_KEY
from tests.network.standin import Key, Standin

JOB_FILE = Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json"


def cli(
    standin: Standin,
    tmp_path: Path,
    *args: str,
    key: str | None = API_KEY,
    stdin: str = "",
    env_extra: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOSANA_", "NOSANA_TUI_"))}
    env.update(
        NOSANA_API_URL=standin.url,
        NOSANA_PIN_URL=standin.url,
        NOSANA_IPFS_GATEWAY=f"{standin.url}/ipfs",
        NOSANA_TUI_CONFIG_DIR=str(tmp_path / "config"),
        NOSANA_TUI_DATA_DIR=str(tmp_path / "data"),
    )
    if key is not None:
        env["NOSANA_API_KEY"] = key
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "nosana_tui", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_markets(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "markets")
    assert done.returncode == 0, done.stderr
    assert "nvidia-h100" in done.stdout and "NVIDIA H100 80GB HBM3" in done.stdout
    assert "$2.20" in done.stdout
    done = cli(standin, tmp_path, "markets", "--json")
    data = json.loads(done.stdout)
    assert {m["slug"] for m in data} == {"nvidia-3090", "nvidia-h100"}
    assert API_KEY not in done.stdout


def test_credits(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "credits")
    assert done.returncode == 0 and "available  $100.00" in done.stdout
    done = cli(standin, tmp_path, "credits", "--json")
    assert json.loads(done.stdout)["available"] == 100 and API_KEY not in done.stdout


def test_no_key(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "credits", key=None)
    assert done.returncode == 2 and "NOSANA_API_KEY=nos_" in done.stderr


def test_run_shows_the_cost_and_refuses_without_yes_and_terminal(
    standin: Standin, tmp_path: Path
) -> None:
    done = cli(
        standin, tmp_path, "run", str(JOB_FILE), "--market", "nvidia-h100", "--timeout", "2h"
    )
    assert done.returncode == 2
    assert "NVIDIA H100 80GB HBM3" in done.stderr and "$2.20/hour" in done.stderr
    assert "the most it can cost: $4.40" in done.stderr
    assert "pass --yes" in done.stderr
    assert not standin.listed


def test_run_with_yes_posts_then_ps_extend_stop(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "run", str(JOB_FILE), "--market", "nvidia-3090", "--yes")
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert address in standin.jobs and len(standin.listed) == 1
    assert "$0.22 reserved" in done.stderr

    done = cli(standin, tmp_path, "ps", "--network", "mainnet")
    assert done.returncode == 0 and address in done.stdout and "QUEUED" in done.stdout
    standin.start_job(address)
    done = cli(standin, tmp_path, "ps", "--network", "mainnet", address, "--json")
    row = json.loads(done.stdout)
    assert row["state"] == "RUNNING" and row["cost_nos"] > 0 and API_KEY not in done.stdout

    done = cli(standin, tmp_path, "extend", address, "--timeout", "30m", "--yes")
    assert done.returncode == 0, done.stderr
    assert "extended by 30m" in done.stdout and standin.jobs[address]["timeout"] == 5400

    done = cli(standin, tmp_path, "stop", address, "--network", "mainnet")
    assert done.returncode == 0 and "stopped" in done.stdout
    assert standin.jobs[address]["state"] == 3


def test_run_out_of_credits(standin: Standin, tmp_path: Path) -> None:
    standin.keys[API_KEY] = Key(credits=0.5)
    done = cli(standin, tmp_path, "run", str(JOB_FILE), "--market", "nvidia-h100", "--yes")
    assert done.returncode == 1 and "out of credits (402)" in done.stderr


def test_run_invalid_job_is_exit_2(standin: Standin, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "0.1", "type": "container", "ops": 3}')
    done = cli(standin, tmp_path, "run", str(bad), "--market", "nvidia-3090", "--yes")
    assert done.returncode == 2 and not standin.listed


def test_bad_duration(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "extend", "X", "--timeout", "soon")
    assert done.returncode == 2 and "give a duration like 1h" in done.stderr


def test_local_run_refuses_a_network_node(standin: Standin, tmp_path: Path) -> None:
    done = cli(standin, tmp_path, "run", str(JOB_FILE), "--node", "1" * 40)
    assert done.returncode == 2 and "add --market" in done.stderr


def test_network_flag_picks_that_networks_hosts(tmp_path: Path) -> None:

    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSANA_")}
    env["NOSANA_TUI_CONFIG_DIR"] = str(tmp_path)
    code = (
        "from nosana_tui.cli.network import network_config as n;"
        "print(n('devnet').api_url, n(None).api_url, repr(n(None)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.stdout.split()[:2] == [
        "https://dashboard.k8s.dev.nos.ci/api",
        "https://api.nosana.com",
    ], done.stderr


def test_run_asks_at_a_terminal(standin: Standin, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSANA_")}
    env.update(
        NOSANA_API_URL=standin.url,
        NOSANA_PIN_URL=standin.url,
        NOSANA_API_KEY=API_KEY,
        NOSANA_TUI_CONFIG_DIR=str(tmp_path),
        NOSANA_TUI_DATA_DIR=str(tmp_path),
    )
    for answer, code in (("n\n", 1), ("y\n", 0)):
        master, slave = os.openpty()
        os.write(master, answer.encode())
        done = subprocess.run(
            [sys.executable, "-m", "nosana_tui", "run", str(JOB_FILE), "--market", "nvidia-3090"],
            env=env,
            stdin=slave,
            capture_output=True,
            text=True,
            timeout=60,
        )
        os.close(master)
        os.close(slave)
        assert "for up to $0.22? [y/N]" in done.stderr
        assert done.returncode == code, done.stderr
    assert len(standin.listed) == 1


def test_an_answer_off_the_schema_fails(standin: Standin, tmp_path: Path) -> None:
    standin.markets[0]["gpu_types"] = "one GPU"  # drift: a string where @nosana/api has a list
    done = cli(standin, tmp_path, "markets")
    assert done.returncode == 1 and "failed (500)" in done.stderr
    assert standin.violations and "MarketsResponse" in standin.violations[0]
    standin.violations.clear()
