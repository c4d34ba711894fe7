"""The parsers against output real users pasted in public issues (the other samples in
tests/fixtures/gpu are written from NVIDIA's documented formats). Sources:

- ``ldconfig-fedora-415.txt``: NVIDIA/nvidia-docker#876 (Fedora 29, driver 415.22): ``OS ABI``
  tags, 32-bit twins, bare ``.so`` links.
- ``ldconfig-wsl.txt``: WSL 2 reports (``/usr/lib/wsl/lib``, trailing blanks) with the CUDA
  toolkit's stub ``libcuda.so`` and ``libicudata`` that a ``grep cuda`` also finds.
- ``cgroup-v1-cri-containerd.txt``: open-telemetry/opentelemetry-java#4507 (containerd's
  ``…slice:cri-containerd:<id>`` form).
- query rows: NVIDIA GB10 with ``[N/A]`` memory (unsloth#10703, gpud#1170), an A800 in MIG mode
  with ``[N/A]`` utilisation (nvidia_gpu_exporter#203), ``[GPU requires reset]`` and
  ``[Unknown Error]`` cells, and nvidia-smi's own error lines (NVIDIA/open-gpu-kernel-modules#387,
  anderskm/gputil#55) printed where rows were expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nosana_tui.host import gpus as gpu

GPU = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"


def fixture(name: str) -> str:
    return (GPU / name).read_text(encoding="utf-8")


def test_ldconfig_with_os_abi_tags_keeps_the_64_bit_driver_files_only() -> None:
    found = {f.soname: f.path for f in gpu.parse_ldconfig(fixture("ldconfig-fedora-415.txt"))}
    assert found == {
        "libnvidia-ml.so.1": "/lib64/libnvidia-ml.so.1",
        "libnvidia-opencl.so.1": "/lib64/libnvidia-opencl.so.1",
        "libnvidia-ptxjitcompiler.so.1": "/lib64/libnvidia-ptxjitcompiler.so.1",
        "libnvidia-rtcore.so.415.22": "/lib64/libnvidia-rtcore.so.415.22",
        "libnvidia-tls.so.415.22": "/lib64/libnvidia-tls.so.415.22",
        "libnvoptix.so.1": "/lib64/libnvoptix.so.1",
    }


def test_ldconfig_on_wsl_takes_the_drivers_libcuda_not_the_toolkits_stub() -> None:
    found = {f.soname: f.path for f in gpu.parse_ldconfig(fixture("ldconfig-wsl.txt"))}
    assert found == {
        "libcuda.so.1": "/usr/lib/wsl/lib/libcuda.so.1",
        "libcudadebugger.so.1": "/usr/lib/wsl/lib/libcudadebugger.so.1",
    }


def test_cri_containerd_cgroup_names_the_container(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "cgroup").write_text(fixture("cgroup-v1-cri-containerd.txt"))
    assert gpu.container_id_of(77, proc=tmp_path) == (
        "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459"
    )


@pytest.mark.parametrize(
    ("row", "total", "used", "util"),
    [
        (
            "0, NVIDIA GB10, GPU-2dee1e25-b3b5-007e-2b55-79f2d0f2ebe5, [N/A], [N/A], 0, "
            "580.126.09, 12.1",
            0,  # unified memory: the driver has no figure for it
            None,
            0,
        ),
        (
            "0, NVIDIA A800-SXM4-80GB, GPU-x, 81920, 36537, [N/A], 535.86.10, 8.0",
            81920,
            36537,
            None,
        ),
        (
            "0, NVIDIA H100 80GB HBM3, GPU-x, 81559, [GPU requires reset], [GPU requires reset], "
            "550.54.15, 9.0",
            81559,
            None,
            None,
        ),
        (
            "0, NVIDIA H100 80GB HBM3, GPU-x, 81559, [Unknown Error], [Unknown Error], "
            "550.54.15, 9.0",
            81559,
            None,
            None,
        ),
    ],
)
def test_query_rows_with_unavailable_cells(
    row: str, total: int, used: int | None, util: int | None
) -> None:
    [found] = gpu.parse_smi_gpus(row + "\n")
    assert (found.memory_total_mb, found.memory_used_mb, found.utilization_pct) == (
        total,
        used,
        util,
    )


@pytest.mark.parametrize(
    "text",
    [
        "Unable to determine the device handle for GPU0000:0B:00.0: Unknown Error\n",
        "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 535.161\n",
    ],
)
def test_error_lines_where_rows_were_expected_are_no_gpus(text: str) -> None:
    assert gpu.parse_smi_gpus(text) == []


@pytest.mark.parametrize(
    ("header", "cuda"),
    [
        (
            "| NVIDIA-SMI 580.126.09             Driver Version: 580.126.09     CUDA Version: 13.0     |",
            "13.0",
        ),
        ("| NVIDIA-SMI 410.79       Driver Version: 410.79       CUDA Version: N/A      |", ""),
        (
            "Driver Version                      : 410.72\nCUDA Version                        : 10.0\n",
            "10.0",
        ),
    ],
)
def test_cuda_version_lines(header: str, cuda: str) -> None:
    assert gpu.parse_cuda_version(header) == cuda
