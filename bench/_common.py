"""Shared helpers of the benchmarks: the machine, a real agent in a temp dir, statistics.

Not a test module; imported by bench/bringup.py and bench/logs.py.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nosana_tui.client.node import NodeClient  # noqa: E402

PY = sys.executable


# --- the machine ----------------------------------------------------------------------------------


def _first(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def machine() -> dict[str, str]:
    info: dict[str, str] = {}
    info["cpu"] = _first("/proc/cpuinfo", "model name")
    info["cores"] = str(os.cpu_count())
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    info["ram"] = f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?"
    info["kernel"] = platform.release()
    info["python"] = platform.python_version() + f" ({PY})"
    try:
        import docker

        client = docker.from_env()
        dinfo = client.info()
        ver = client.version()
        info["docker"] = f"{ver.get('Version')} (API {ver.get('ApiVersion')})"
        info["storage_driver"] = str(dinfo.get("Driver"))
        info["cgroup"] = f"{dinfo.get('CgroupDriver')} v{dinfo.get('CgroupVersion')}"
        client.close()
    except Exception as err:  # reported, not fatal
        info["docker"] = f"unavailable ({err})"
    compose = shutil.which("docker-compose")
    if compose:
        out = subprocess.run([compose, "version", "--short"], capture_output=True, text=True)
        info["docker-compose"] = out.stdout.strip() or "?"
    return info


def print_machine() -> dict[str, str]:
    info = machine()
    print("machine:")
    for key, value in info.items():
        print(f"  {key:15} {value}")
    return info


# --- statistics ---------------------------------------------------------------------------------


def fmt(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    if not values:
        return "-"
    vals = [v * scale for v in values]
    return (
        f"median {statistics.median(vals):7.3f}{unit}  "
        f"min {min(vals):7.3f}{unit}  max {max(vals):7.3f}{unit}  (n={len(vals)})"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a real agent ---------------------------------------------------------------------------------


@dataclass
class Agent:
    url: str
    port: int
    tmp: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    startup_s: float
    token: str = ""
    rss_samples: list[tuple[float, int]] = field(default_factory=list)

    def client(self) -> NodeClient:
        return NodeClient(self.url, self.token, timeout=120.0)

    def cli(self, *args: str) -> list[str]:
        return [PY, "-m", "nosana_tui", *args]

    def rss_kb(self) -> int:
        return _status_kb(self.process.pid, "VmRSS")

    def hwm_kb(self) -> int:
        return _status_kb(self.process.pid, "VmHWM")

    def cpu_s(self) -> float:
        """User + system CPU seconds the agent has used so far (its threads included)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _status_kb(pid: int, key: str) -> int:
    try:
        value = _first(f"/proc/{pid}/status", key)
        return int(value.split()[0])
    except (ValueError, IndexError):
        return 0


async def start_agent(
    extra_env: dict[str, str] | None = None, entry: list[str] | None = None
) -> Agent:
    """``python -m nosana_tui node serve`` (or ``entry`` + ``node serve``) on a free port, config
    and data in a temp dir; waits until it answers. ``startup_s``: Popen -> first ``GET /``."""
    tmp = Path(tempfile.mkdtemp(prefix="nosana-bench-"))
    port = free_port()
    env = os.environ.copy()
    env.update(
        {
            "NOSANA_TUI_CONFIG_DIR": str(tmp / "config"),
            "NOSANA_TUI_DATA_DIR": str(tmp / "data"),
            "NOSANA_TUI_NODE": f"http://127.0.0.1:{port}",
            "NOSANA_TUI_STOP_TIMEOUT": "2",
        }
    )
    env.update(extra_env or {})
    process, startup = await _launch(port, env, entry, tmp / "agent.log")
    token = (tmp / "config" / "token").read_text().strip()
    return Agent(f"http://127.0.0.1:{port}", port, tmp, env, process, startup, token)


async def restart_agent(agent: Agent, log: Path) -> float:
    """Start AGENT again (after it ended or was killed) on the same port, config and data
    folder, its output to LOG; waits until it answers and returns Popen -> first ``GET /``."""
    agent.process, startup = await _launch(agent.port, agent.env, None, log)
    return startup


async def _launch(
    port: int, env: dict[str, str], entry: list[str] | None, log_path: Path
) -> tuple[subprocess.Popen[bytes], float]:
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    t0 = time.perf_counter()
    process = subprocess.Popen(
        [*(entry or [PY, "-m", "nosana_tui"]), "node", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    probe = NodeClient(f"http://127.0.0.1:{port}", None)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"agent exited: {log_path.read_text()}")
            if await probe.alive():
                break
            await asyncio.sleep(0.02)
    finally:
        await probe.close()
    return process, time.perf_counter() - t0


def docker_cleanup_job(job_id: str) -> None:
    """Remove anything a nosana-tui job left behind (used only when ``rm`` failed)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=nosana-tui.job={job_id}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    subprocess.run(["docker", "network", "rm", f"nosana-tui-{job_id}"], capture_output=True)
