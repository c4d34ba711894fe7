"""GPU discovery and GPU processes, from recorded nvidia-smi output and a fake pynvml.

No GPU is needed: the subprocess runner (``gpu._run``), the pynvml import (``gpu._load_nvml``)
and the program lookup (``shutil.which`` and ``gpu.TOOL_DIRS``) are replaced.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from nosana_tui.api.models import GpuDevice, GpuProcess
from nosana_tui.host import gpus as gpu
from tests.conftest import FIXTURES

GPU = FIXTURES / "gpu"
SMI = "/usr/bin/nvidia-smi"
H100_UUID = "GPU-3c2a9f1e-8b7d-4e62-a1f0-5d9c7b2e4a18"
A10G_UUIDS = (
    "GPU-9f1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
    "GPU-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
)
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)
QUERY = "--query-gpu=index,name,uuid,memory.total,memory.used,utilization.gpu,driver_version"


def fixture(name: str) -> str:
    return (GPU / name).read_text(encoding="utf-8")


H100 = GpuDevice(
    index=0,
    name="NVIDIA H100 80GB HBM3",
    uuid=H100_UUID,
    memory_total_mb=81559,
    memory_used_mb=0,
    utilization_pct=0,
    driver_version="580.159.04",
    cuda_version="13.0",
    compute_capability="9.0",
)


@dataclass
class Runner:
    """Stands in for ``gpu._run``: answers by the command's first argument after the program,
    and records every call."""

    answers: dict[str, Callable[[], subprocess.CompletedProcess[str]]]
    calls: list[list[str]] = field(default_factory=list)

    def __call__(
        self, argv: Sequence[str], timeout: float = gpu.SMI_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        key = argv[1] if len(argv) > 1 else ""
        return self.answers[key]()


def done(stdout: str = "", rc: int = 0, stderr: str = "") -> Callable[[], Any]:
    return lambda: subprocess.CompletedProcess([], rc, stdout, stderr)


def raises(err: BaseException) -> Callable[[], Any]:
    def answer() -> Any:
        raise err

    return answer


class NVMLError(Exception):
    pass


class FakeNvml:
    """The few pynvml calls gpu.py makes, over a list of devices."""

    NVMLError = NVMLError

    def __init__(
        self,
        devices: list[dict[str, Any]],
        *,
        init_error: str = "",
        processes: dict[int, dict[str, list[Any]]] | None = None,
    ) -> None:
        self.devices = devices
        self.init_error = init_error
        self.processes = processes or {}
        self.inits = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise NVMLError(self.init_error)
        self.inits += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        return 13000

    def nvmlDeviceGetCount(self) -> int:
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= len(self.devices):
            raise NVMLError("Invalid Argument")
        if self.devices[index].get("lost"):
            raise NVMLError("GPU is lost")
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return str(self.devices[handle]["name"]).encode()  # old pynvml answers bytes

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return str(self.devices[handle]["uuid"])

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        d = self.devices[handle]
        return SimpleNamespace(total=d["total"], used=d["used"], free=d["total"] - d["used"])

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        util = self.devices[handle]["util"]
        if util is None:
            raise NVMLError("Not Supported")
        return SimpleNamespace(gpu=util, memory=0)

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return tuple(self.devices[handle]["cc"])

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[Any]:
        return self.processes.get(handle, {}).get("compute", [])

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[Any]:
        return self.processes.get(handle, {}).get("graphics", [])


H100_NVML = {
    "name": "NVIDIA H100 80GB HBM3",
    "uuid": H100_UUID,
    "total": 81559 * 2**20,
    "used": 1234 * 2**20 + 4096,  # not a whole MiB: rounds down
    "util": 37,
    "cc": (9, 0),
}


@pytest.fixture(autouse=True)
def _no_host_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine has, the tests see only what they set up."""
    monkeypatch.setattr(gpu, "_nvml_ready", None)
    monkeypatch.setattr(gpu, "_cuda_versions", {})
    monkeypatch.setattr(gpu, "_load_nvml", lambda: None)
    monkeypatch.setattr(gpu, "TOOL_DIRS", ())
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(gpu, "_run", Runner({}))


def with_smi(monkeypatch: pytest.MonkeyPatch, runner: Runner) -> Runner:
    monkeypatch.setattr("shutil.which", lambda name: SMI if name == "nvidia-smi" else None)
    monkeypatch.setattr(gpu, "_run", runner)
    return runner


def with_nvml(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml) -> FakeNvml:
    monkeypatch.setattr(gpu, "_load_nvml", lambda: nvml)
    return nvml


# -- parsing ---------------------------------------------------------------------------------


def test_cuda_version_from_the_nvidia_smi_header() -> None:
    assert gpu.parse_cuda_version(fixture("nvidia-smi-h100.txt")) == "13.0"


def test_cuda_version_from_nvidia_smi_q() -> None:
    text = "Driver Version                            : 535.183.01\nCUDA Version                              : 12.2\n"
    assert gpu.parse_cuda_version(text) == "12.2"


def test_cuda_version_absent() -> None:
    assert gpu.parse_cuda_version(fixture("nvidia-smi-no-driver.txt")) == ""


def test_parse_one_h100() -> None:
    assert gpu.parse_smi_gpus(fixture("query-gpu-h100.csv"), cuda_version="13.0") == [H100]


def test_parse_two_a10g_with_unavailable_utilisation() -> None:
    gpus = gpu.parse_smi_gpus(fixture("query-gpu-2xa10g.csv"), cuda_version="12.2")
    assert [g.model_dump() for g in gpus] == [
        {
            "index": 0,
            "name": "NVIDIA A10G",
            "uuid": A10G_UUIDS[0],
            "memory_total_mb": 23028,
            "memory_used_mb": 20962,
            "utilization_pct": 87,
            "driver_version": "535.183.01",
            "cuda_version": "12.2",
            "compute_capability": "8.6",
        },
        {
            "index": 1,
            "name": "NVIDIA A10G",
            "uuid": A10G_UUIDS[1],
            "memory_total_mb": 23028,
            "memory_used_mb": 512,
            "utilization_pct": None,
            "driver_version": "535.183.01",
            "cuda_version": "12.2",
            "compute_capability": "8.6",
        },
    ]


def test_parse_without_compute_capability() -> None:
    (t4,) = gpu.parse_smi_gpus(fixture("query-gpu-t4-no-compute-cap.csv"))
    assert (t4.name, t4.memory_total_mb, t4.driver_version) == ("Tesla T4", 15360, "470.182.03")
    assert t4.compute_capability == ""
    assert t4.cuda_version == ""


def test_parse_is_tolerant_of_missing_values_and_noise() -> None:
    text = (
        "\n"
        "No devices were found\n"
        "0, NVIDIA GeForce RTX 4090, [N/A], 24564, [Not Supported], [Unknown Error], 550.54.14, [N/A]\n"
        "x, not a gpu, GPU-1, 1, 1, 1, 1, 1\n"
    )
    (rtx,) = gpu.parse_smi_gpus(text)
    assert rtx.model_dump() == {
        "index": 0,
        "name": "NVIDIA GeForce RTX 4090",
        "uuid": "",
        "memory_total_mb": 24564,
        "memory_used_mb": None,
        "utilization_pct": None,
        "driver_version": "550.54.14",
        "cuda_version": "",
        "compute_capability": "",
    }


# -- discover(): nvidia-smi ------------------------------------------------------------------


def test_no_pynvml_and_no_nvidia_smi_is_a_normal_answer() -> None:
    found = gpu.discover()
    assert found == gpu.Discovery("none", [], "no NVIDIA driver found: nvidia-smi is not installed")
    assert gpu._run.calls == []  # type: ignore[attr-defined]


def test_nvidia_smi_in_usr_bin_is_found_without_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n")
    smi.chmod(0o755)
    monkeypatch.setattr(gpu, "TOOL_DIRS", (str(tmp_path / "empty"), str(tmp_path)))
    assert gpu._find_tool("nvidia-smi") == str(smi)
    smi.chmod(0o644)  # not a program
    assert gpu._find_tool("nvidia-smi") is None


def test_nvidia_smi_that_cannot_reach_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = with_smi(
        monkeypatch,
        Runner({QUERY + ",compute_cap": done(fixture("nvidia-smi-no-driver.txt"), rc=9)}),
    )
    found = gpu.discover()
    assert found == gpu.Discovery("none", [], f"nvidia-smi failed: {NO_DRIVER}")
    assert len(runner.calls) == 1  # no retry without compute_cap: that was not the problem


def test_nvidia_smi_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = with_smi(
        monkeypatch,
        Runner(
            {
                QUERY + ",compute_cap": done(fixture("query-gpu-h100.csv")),
                "": done(fixture("nvidia-smi-h100.txt")),
            }
        ),
    )
    assert gpu.discover() == gpu.Discovery("nvidia-smi", [H100])
    assert runner.calls == [
        [SMI, QUERY + ",compute_cap", "--format=csv,noheader,nounits"],
        [SMI],
    ]
    # The next poll asks only the query: the CUDA version is known for this driver.
    assert gpu.discover() == gpu.Discovery("nvidia-smi", [H100])
    assert len(runner.calls) == 3
    assert runner.calls[-1][1] == QUERY + ",compute_cap"


def test_old_driver_is_asked_again_without_compute_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = with_smi(
        monkeypatch,
        Runner(
            {
                QUERY + ",compute_cap": done(fixture("query-gpu-old-driver.txt"), rc=2),
                QUERY: done(fixture("query-gpu-t4-no-compute-cap.csv")),
                "": done(
                    "| NVIDIA-SMI 470.182.03   Driver Version: 470.182.03   CUDA Version: 11.4     |\n"
                ),
            }
        ),
    )
    found = gpu.discover()
    assert found.source == "nvidia-smi"
    assert [(g.name, g.cuda_version, g.compute_capability) for g in found.gpus] == [
        ("Tesla T4", "11.4", "")
    ]
    assert [call[1] for call in runner.calls[:2]] == [QUERY + ",compute_cap", QUERY]
    assert runner.calls[-1] == [SMI]


def test_cuda_version_missing_when_plain_nvidia_smi_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with_smi(
        monkeypatch,
        Runner(
            {
                QUERY + ",compute_cap": done(fixture("query-gpu-h100.csv")),
                "": raises(subprocess.TimeoutExpired([SMI], 5.0)),
            }
        ),
    )
    found = gpu.discover()
    assert found.source == "nvidia-smi"
    assert found.gpus == [H100.model_copy(update={"cuda_version": ""})]


def test_nvidia_smi_that_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    with_smi(
        monkeypatch, Runner({QUERY + ",compute_cap": raises(subprocess.TimeoutExpired([SMI], 5.0))})
    )
    assert gpu.discover() == gpu.Discovery("none", [], "nvidia-smi did not answer within 5 s")


def test_nvidia_smi_that_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    with_smi(
        monkeypatch,
        Runner({QUERY + ",compute_cap": raises(PermissionError(13, "Permission denied"))}),
    )
    assert gpu.discover() == gpu.Discovery(
        "none", [], "nvidia-smi could not run: Permission denied"
    )


def test_nvidia_smi_without_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    with_smi(monkeypatch, Runner({QUERY + ",compute_cap": done("No devices were found\n", rc=6)}))
    assert gpu.discover() == gpu.Discovery("none", [], "nvidia-smi failed: No devices were found")


# -- discover(): NVML ------------------------------------------------------------------------


def test_nvml_answers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = with_nvml(monkeypatch, FakeNvml([H100_NVML]))
    runner = with_smi(monkeypatch, Runner({}))
    found = gpu.discover()
    assert found == gpu.Discovery(
        "nvml", [H100.model_copy(update={"memory_used_mb": 1234, "utilization_pct": 37})]
    )
    assert runner.calls == []
    gpu.discover()
    assert nvml.inits == 1  # NVML stays initialised between polls


def test_nvml_reports_unsupported_values_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    a10g = {
        "name": "NVIDIA A10G",
        "uuid": A10G_UUIDS[1],
        "total": 23028 * 2**20,
        "used": 0,
        "util": None,
        "cc": (8, 6),
    }
    with_nvml(monkeypatch, FakeNvml([H100_NVML, a10g]))
    found = gpu.discover()
    assert [
        (g.index, g.name, g.memory_total_mb, g.utilization_pct, g.compute_capability)
        for g in found.gpus
    ] == [
        (0, "NVIDIA H100 80GB HBM3", 81559, 37, "9.0"),
        (1, "NVIDIA A10G", 23028, None, "8.6"),
    ]


def test_nvml_without_driver_and_no_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    with_nvml(monkeypatch, FakeNvml([], init_error="Driver Not Loaded"))
    assert gpu.discover() == gpu.Discovery(
        "none", [], "no NVIDIA driver found: nvidia-smi is not installed (NVML: Driver Not Loaded)"
    )


def test_nvml_failure_falls_back_to_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    with_nvml(monkeypatch, FakeNvml([], init_error="Driver Not Loaded"))
    with_smi(
        monkeypatch,
        Runner(
            {
                QUERY + ",compute_cap": done(fixture("query-gpu-h100.csv")),
                "": done(fixture("nvidia-smi-h100.txt")),
            }
        ),
    )
    assert gpu.discover() == gpu.Discovery("nvidia-smi", [H100])
    assert gpu._nvml_ready is None  # a failure is not remembered: a driver loaded later is found


def test_nvml_with_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    with_nvml(monkeypatch, FakeNvml([]))
    assert gpu.discover() == gpu.Discovery("none", [], "the NVIDIA driver reports no GPU")


def test_load_nvml_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the real _load_nvml
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    assert gpu._load_nvml() is None


def test_load_nvml_with_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    module = ModuleType("pynvml")
    monkeypatch.setitem(sys.modules, "pynvml", module)
    assert gpu._load_nvml() is module


# -- container of a process ------------------------------------------------------------------

CONTAINERS = {
    "cgroup-v1-docker.txt": "3f4e7c9a1b2d8e6f0a5c4b3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f",
    "cgroup-v2-systemd.txt": "8d0b6a4f2e1c9d7b5a3f1e0c8b6a4d2f0e9c7b5a3d1f0e8c6b4a2d0f9e7c5b3a",
    "cgroup-v2-cgroupfs.txt": "c1e5d9a3b7f1e5d9a3b7f1e5d9a3b7f1e5d9a3b7f1e5d9a3b7f1e5d9a3b7f1e5",
    "cgroup-v2-kubepods.txt": "5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d",
    # Docker in Docker: the innermost container
    "cgroup-v2-nested-docker.txt": "5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d",
    "cgroup-v2-host.txt": "",
}


@pytest.mark.parametrize(("sample", "expected"), CONTAINERS.items())
def test_container_id_of(tmp_path: Path, sample: str, expected: str) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cgroup").write_text(fixture(sample))
    assert gpu.container_id_of(4242, proc=tmp_path) == expected


def test_container_id_of_a_process_that_is_gone(tmp_path: Path) -> None:
    assert gpu.container_id_of(4242, proc=tmp_path) == ""


# -- processes -------------------------------------------------------------------------------

A10GS = gpu.parse_smi_gpus(fixture("query-gpu-2xa10g.csv"))
OWNERS = {41872: "c" * 64, 42117: "d" * 64}


@pytest.fixture
def owners(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "container_id_of", lambda pid: OWNERS.get(pid, ""))


@pytest.mark.usefixtures("owners")
def test_parse_compute_apps() -> None:
    assert gpu.parse_smi_apps(fixture("query-compute-apps-2xa10g.csv"), A10GS) == [
        GpuProcess(gpu_index=0, pid=41872, memory_mb=20450, container_id="c" * 64),
        GpuProcess(gpu_index=0, pid=41990, memory_mb=0),
        GpuProcess(gpu_index=1, pid=42117, memory_mb=502, container_id="d" * 64),
    ]


@pytest.mark.usefixtures("owners")
def test_compute_apps_of_unknown_gpus_are_skipped() -> None:
    text = "GPU-00000000-0000-0000-0000-000000000000, 7, 100\n" + fixture(
        "query-compute-apps-2xa10g.csv"
    )
    assert [p.pid for p in gpu.parse_smi_apps(text, A10GS[1:])] == [42117]


@pytest.mark.usefixtures("owners")
def test_gpu_processes_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = with_smi(
        monkeypatch,
        Runner(
            {
                "--query-compute-apps=gpu_uuid,pid,used_memory": done(
                    fixture("query-compute-apps-2xa10g.csv")
                )
            }
        ),
    )
    processes = gpu.gpu_processes(A10GS)
    assert [(p.gpu_index, p.pid, p.memory_mb, p.container_id) for p in processes] == [
        (0, 41872, 20450, "c" * 64),
        (0, 41990, 0, ""),
        (1, 42117, 502, "d" * 64),
    ]
    assert runner.calls == [
        [SMI, "--query-compute-apps=gpu_uuid,pid,used_memory", "--format=csv,noheader,nounits"]
    ]


@pytest.mark.usefixtures("owners")
def test_gpu_processes_from_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = SimpleNamespace(pid=41872, usedGpuMemory=20450 * 2**20)
    viewer = SimpleNamespace(pid=42117, usedGpuMemory=None)  # the driver cannot say
    nvml = FakeNvml(
        [H100_NVML, H100_NVML],
        processes={
            0: {"compute": [trainer], "graphics": [trainer]},  # listed twice, counted once
            1: {"graphics": [viewer]},
        },
    )
    with_nvml(monkeypatch, nvml)
    runner = with_smi(monkeypatch, Runner({}))
    assert gpu.gpu_processes(A10GS) == [
        GpuProcess(gpu_index=0, pid=41872, memory_mb=20450, container_id="c" * 64),
        GpuProcess(gpu_index=1, pid=42117, memory_mb=0, container_id="d" * 64),
    ]
    assert runner.calls == []


def test_gpu_processes_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    assert gpu.gpu_processes(A10GS) == []  # no NVML, no nvidia-smi
    runner = with_smi(
        monkeypatch,
        Runner({"--query-compute-apps=gpu_uuid,pid,used_memory": done(NO_DRIVER, rc=9)}),
    )
    assert gpu.gpu_processes(A10GS) == []
    assert gpu.gpu_processes([]) == []
    assert len(runner.calls) == 1  # no GPUs: nothing asked


# -- one GPU that does not answer --------------------------------------------------------------


def test_nvml_leaves_out_a_lost_gpu_and_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    with_nvml(monkeypatch, FakeNvml([H100_NVML, {"lost": True}, {**H100_NVML, "uuid": "GPU-2"}]))
    found = gpu.discover()
    assert found.source == "nvml"
    assert [g.index for g in found.gpus] == [0, 2]
    assert found.note == "left out: GPU 1: GPU is lost"


def test_nvml_with_every_gpu_lost_is_no_gpu_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    with_nvml(monkeypatch, FakeNvml([{"lost": True}]))
    assert gpu.discover() == gpu.Discovery("none", [], "no GPU answers NVML (GPU 0: GPU is lost)")


def test_nvidia_smi_failing_for_one_gpu_still_reports_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One GPU off the bus makes nvidia-smi exit non-zero, yet it prints the other rows
    (NVIDIA/open-gpu-kernel-modules#387, wookayin/gpustat#125)."""
    lost = "Unable to determine the device handle for GPU0000:0B:00.0: Unknown Error"
    with_smi(
        monkeypatch,
        Runner(
            {
                QUERY + ",compute_cap": done(fixture("query-gpu-h100.csv") + lost + "\n", rc=15),
                "": done(fixture("nvidia-smi-h100.txt")),
            }
        ),
    )
    found = gpu.discover()
    assert found.source == "nvidia-smi" and found.gpus == [H100]
    assert found.note == f"nvidia-smi failed for some GPUs: {lost}"


def test_a_cuda_version_of_n_a_is_remembered_per_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    header = "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: N/A      |\n"
    runner = with_smi(
        monkeypatch,
        Runner({QUERY + ",compute_cap": done(fixture("query-gpu-h100.csv")), "": done(header)}),
    )
    assert gpu.discover().gpus[0].cuda_version == ""
    gpu.discover()
    assert [call for call in runner.calls if call == [SMI]] == [[SMI]]  # the slow query once
