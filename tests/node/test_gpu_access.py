"""How an op with ``gpu: true`` gets a GPU, on the real Docker engine (no GPU here).

The passthrough plan is the one thing faked (this machine has no NVIDIA driver): a character
device made with mknod and a file standing in for ``libcuda.so.1``. Everything else is real: the
Docker backend creates the container with the plan's devices, read-only binds and environment,
and a command inside the container checks what it got. The real plan is tested from recorded
driver listings in ``tests/gpu``; the end-to-end CUDA proof needs the lent GPU machine.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import docker
import pytest

from nosana_tui.backends import docker as docker_backend
from nosana_tui.backends.docker import DockerBackend
from nosana_tui.host import gpus as gpu_host
from tests.dockerenv import IMAGE, ensure_docker
from tests.node.dockergpu import engine_with, run_container


@pytest.fixture
def fake_driver(tmp_path: Path) -> gpu_host.Passthrough:
    device = tmp_path / "nvidia0"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # the same device as /dev/null
    except PermissionError:
        pytest.skip("mknod needs root here")
    library = tmp_path / "libcuda.so.580.0"
    library.write_text("not really libcuda\n")
    return gpu_host.Passthrough(
        devices=[str(device)],
        binds=[(str(library), f"{gpu_host.LIB_DIR}/libcuda.so.1")],
        env={"LD_LIBRARY_PATH": gpu_host.LIB_DIR, "NVIDIA_VISIBLE_DEVICES": "0"},
    )


def test_passthrough_gives_the_container_devices_read_only_driver_files_and_env(
    fake_driver: gpu_host.Passthrough, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_docker()
    monkeypatch.setattr(gpu_host, "plan_passthrough", lambda ids: fake_driver)
    backend = DockerBackend(agent_id="gpu-test")
    access = asyncio.run(backend.gpu_access())
    assert access.mode == "passthrough"
    assert "direct passthrough of all GPUs" in access.detail
    assert f"1 devices and 1 driver files (read-only, under {gpu_host.LIB_DIR})" in access.detail
    device = fake_driver.devices[0]
    out = run_container(
        backend,
        f"test -c {device} && echo device ok; "
        f"cat {gpu_host.LIB_DIR}/libcuda.so.1; "
        f"echo x > {gpu_host.LIB_DIR}/libcuda.so.1 || echo read-only; "
        'echo "LD=$LD_LIBRARY_PATH VIS=$NVIDIA_VISIBLE_DEVICES MINE=$MINE"',
        {"MINE": "kept", "LD_LIBRARY_PATH": "/opt/app/lib"},
    )
    assert "device ok" in out
    assert "not really libcuda" in out
    assert "read-only" in out
    # the op's own search path is kept, behind the driver's folder
    assert f"LD={gpu_host.LIB_DIR}:/opt/app/lib VIS=0 MINE=kept" in out


def test_no_driver_means_no_access_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_docker()

    def no_driver(ids: list[int] | None) -> gpu_host.Passthrough:
        raise ValueError("no /dev/nvidiactl on this host: the NVIDIA kernel driver is not loaded.")

    monkeypatch.setattr(gpu_host, "plan_passthrough", no_driver)
    access = asyncio.run(DockerBackend(agent_id="gpu-test").gpu_access())
    assert access.mode == "none"
    assert "the NVIDIA kernel driver is not loaded" in access.detail
    assert "NVIDIA container toolkit" in access.detail


def test_engine_runtime_is_preferred_and_takes_the_agents_gpu_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ensure_docker()
    backend = DockerBackend(agent_id="gpu-test", gpu_ids=[0, 2])
    runtimes = {**(backend.client.info().get("Runtimes") or {}), "nvidia": {"path": "x"}}
    cdi = [{"Source": "cdi", "ID": "nvidia.com/gpu=all"}]  # the runtime wins over CDI too
    engine_with(backend, monkeypatch, Runtimes=runtimes, DiscoveredDevices=cdi)
    planned: list[object] = []
    monkeypatch.setattr(gpu_host, "plan_passthrough", lambda ids: planned.append(ids))
    access = asyncio.run(backend.gpu_access())
    assert access.mode == "runtime" and access.detail == "the engine's NVIDIA runtime (GPUs 0,2)"
    assert planned == []  # no host probing when the engine can do it
    # and the request the engine gets names those GPUs
    [request] = _device_requests(backend, monkeypatch)
    assert request["DeviceIDs"] == ["0", "2"] and request["Driver"] == ""


def _device_requests(
    backend: DockerBackend, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, object]]:
    """Create a GPU op's container and return the device requests it carried (this engine has
    neither the runtime nor CDI, so it refuses them)."""
    captured: dict[str, object] = {}
    real_host_config = backend.api.create_host_config

    def spy(**kwargs: object) -> object:
        captured.update(kwargs)
        return real_host_config(**kwargs)

    monkeypatch.setattr(backend.api, "create_host_config", spy)
    with pytest.raises(docker_backend.BackendError):
        run_container(backend, "true", {})
    requests = captured["device_requests"]
    assert isinstance(requests, list)
    return requests


def test_cdi_devices_are_asked_for_by_name_when_there_is_no_runtime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ensure_docker()
    backend = DockerBackend(agent_id="gpu-test")
    engine_with(
        backend,
        monkeypatch,
        DiscoveredDevices=[
            {"Source": "cdi", "ID": "nvidia.com/gpu=0"},
            {"Source": "cdi", "ID": "nvidia.com/gpu=all"},
        ],
    )
    planned: list[object] = []
    monkeypatch.setattr(gpu_host, "plan_passthrough", lambda ids: planned.append(ids))
    access = asyncio.run(backend.gpu_access())
    assert access.mode == "cdi"
    assert access.detail == "the engine's CDI devices (nvidia.com/gpu=all)"
    assert planned == []
    [request] = _device_requests(backend, monkeypatch)
    assert request["Driver"] == "cdi" and request["DeviceIDs"] == ["nvidia.com/gpu=all"]


def test_cdi_without_the_agents_gpu_falls_back_to_passthrough_and_says_why(
    fake_driver: gpu_host.Passthrough, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_docker()
    backend = DockerBackend(agent_id="gpu-test", gpu_ids=[1])
    engine_with(
        backend, monkeypatch, DiscoveredDevices=[{"Source": "cdi", "ID": "nvidia.com/gpu=0"}]
    )
    monkeypatch.setattr(gpu_host, "plan_passthrough", lambda ids: fake_driver)
    access = asyncio.run(backend.gpu_access())
    assert access.mode == "passthrough"
    assert "the engine's CDI specs have no nvidia.com/gpu=1" in access.detail


def test_a_containers_host_pid_maps_back_to_it_through_its_cgroup() -> None:
    """NVML reports host PIDs; the agent names their containers from ``/proc/PID/cgroup``.
    Here with a real container of the real engine (and this host's cgroup layout)."""
    ensure_docker()
    client = docker.from_env()
    container = client.containers.run(IMAGE, ["sleep", "30"], detach=True)
    try:
        container.reload()
        pid = int(container.attrs["State"]["Pid"])
        assert pid > 0
        assert gpu_host.container_id_of(pid) == container.id
        assert gpu_host.container_id_of(os.getpid()) == ""  # this test's own process
    finally:
        container.remove(force=True)
        client.close()
