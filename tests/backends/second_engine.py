"""A Docker engine of a test's own, for faults that the shared engine must never see: stopping
and restarting dockerd, running out of network address pools.

Other test suites use the shared engine (scripts/docker-env.sh) at the same time, so this one
shares nothing with it that it could break: its own data, exec root, socket and pid file under
one folder in /tmp, its own default bridge, no iptables rules. dockerd deletes the host's
``docker0`` (the shared engine's bridge) when started with ``--bridge=none``, and when started
again with a default address pool and no live restore, so neither is done here: an engine with
a tiny address pool (``pool_networks`` networks fit) is never restarted. busybox:latest is copied in from the shared engine
(``docker save | docker load``: the image that scripts/docker-env.sh imported, no registry).
``close()`` removes every container, network and folder it made and the processes it started.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.dockerenv import IMAGE, ensure_docker


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return _run(["ip", *args], timeout=10)


class SecondEngine:
    """One extra dockerd; ``url`` is what ``DockerBackend(base_url=...)`` takes."""

    def __init__(self, pool_networks: int | None = None) -> None:
        ensure_docker()
        if os.geteuid() != 0 or shutil.which("dockerd") is None or shutil.which("ip") is None:
            raise RuntimeError("a second Docker engine needs root, dockerd and ip (iproute2)")
        tag = secrets.token_hex(3)
        # short paths: containerd's socket lives under the exec root (unix sockets: 108 bytes)
        self.dir = Path(tempfile.mkdtemp(prefix=f"ntd2-{tag}-", dir="/tmp"))
        self.socket = self.dir / "sock"
        self.url = f"unix://{self.socket}"
        self.bridge = f"ntd2-{tag}"  # at most 15 characters
        third = int(tag[:2], 16)
        self.bridge_cidr = f"10.124.{third}.1/24"
        self.pool = ""
        if pool_networks is not None:
            prefix = 32 - (pool_networks * 16 - 1).bit_length()  # /28 networks
            pool = ipaddress.ip_network(f"10.123.{third}.0/{prefix}", strict=False)
            self.pool = f"base={pool},size=28"
        self.started = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._networks: set[str] = set()  # ids of networks made on it (bridges br-<id12>)
        try:
            self._make_bridge()
            self.start()
            self._load_image()
        except BaseException:
            self.close()
            raise

    # --- the engine ----------------------------------------------------------------------------

    def _make_bridge(self) -> None:
        for args in (
            ["link", "add", self.bridge, "type", "bridge"],
            ["addr", "add", self.bridge_cidr, "dev", self.bridge],
            ["link", "set", self.bridge, "up"],
        ):
            done = _ip(*args)
            if done.returncode != 0:
                raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def start(self) -> None:
        """Start dockerd (again, on the same folders) and wait until it answers."""
        assert self.process is None or self.process.poll() is not None
        if self.started and self.pool:
            raise RuntimeError("an engine with an address pool is not restarted: see the top")
        self.started += 1
        root, execroot = self.dir / "data", self.dir / "exec"
        log = open(self.dir / "dockerd.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.process = subprocess.Popen(
            [
                "dockerd",
                f"--host={self.url}",
                f"--data-root={root}",
                f"--exec-root={execroot}",
                f"--pidfile={self.dir / 'dockerd.pid'}",
                f"--bridge={self.bridge}",
                *([f"--default-address-pool={self.pool}"] if self.pool else []),
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--shutdown-timeout=2",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the second dockerd did not start:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop dockerd (SIGTERM, as a service manager does) and wait until it has exited."""
        if self.process is None or self.process.poll() is not None:
            return
        self._networks.update(self._ids("network", "ls", "--filter", "type=custom"))
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        # its containerd stops with it; one left over after a kill is ours to end
        pid_file = self.dir / "exec" / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)

    def answers(self) -> bool:
        return self.docker("info", timeout=10).returncode == 0

    def docker(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        try:
            return _run(["docker", "-H", self.url, *args], timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", "timed out")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.dir / "dockerd.log").read_text().splitlines()[-lines:])
        return ""

    def _load_image(self) -> None:
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        load = subprocess.run(
            ["docker", "-H", self.url, "load", "-q"],
            stdin=save.stdout,
            capture_output=True,
            timeout=120,
            check=False,
        )
        save.wait(30)
        if load.returncode != 0 or save.returncode != 0:
            raise RuntimeError(f"could not copy {IMAGE} in: {load.stderr.decode().strip()}")

    # --- what it made --------------------------------------------------------------------------

    def _ids(self, *args: str) -> list[str]:
        done = self.docker(*args, "-q", "--no-trunc")
        return done.stdout.split() if done.returncode == 0 else []

    def close(self) -> None:
        """Remove everything: containers, networks, the engine, its bridges and its folders."""
        if self.process is not None and self.process.poll() is None and self.answers():
            for cid in self._ids("ps", "-a"):
                self.docker("rm", "-f", cid)
            for nid in self._ids("network", "ls", "--filter", "type=custom"):
                self.docker("network", "rm", nid)
        self.stop()
        for nid in self._networks:
            _ip("link", "del", f"br-{nid[:12]}")
        _ip("link", "del", self.bridge)
        # network namespaces of containers it had when it stopped (under its exec root)
        mounts = Path("/proc/mounts").read_text()
        for line in reversed(mounts.splitlines()):
            point = line.split()[1]
            if point.startswith(str(self.dir)):
                _run(["umount", "-l", point], timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
