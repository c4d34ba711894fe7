"""``gpu: true`` really gets the GPU, through the agent and our Docker backend, without the
NVIDIA container toolkit (direct passthrough); admission refuses more VRAM than the card has; the
TUI's GPU panel shows a busy card live. Three tests need a GPU and are skipped elsewhere, saying
why; two need only a CUDA toolkit and Docker, and run in CI.

The CUDA programs are ``tests/gpu/cuda_check.cu`` (from ../shared/gpu: device name and a
checked vector sum) and ``tests/gpu/cuda_burn.cu`` (keeps the GPU busy, holding memory, for the
panel), built with ``nvcc -O2 -cudart static``, or taken ready-built from
``$NOSANA_TUI_CUDA_PROGRAMS`` (``scripts/gpu-kit.sh`` builds them) where there is no nvcc. The
image is made from them and the host's glibc files only (no registry is needed): the libraries
``ldd`` names, plus libdl, libpthread and librt, which libcuda links. The TUI test writes its
capture (``gpu-panel.svg`` and ``gpu-panel.txt``) to ``$NOSANA_TUI_GPU_CAPTURE`` when that names
a folder. ``docs/gpu.md`` says how to run this on the lent GPU machine (``scripts/gpu-proof.sh``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import OpStatus
from nosana_tui.backends.docker import DockerBackend
from nosana_tui.client.node import NodeError, job_done
from nosana_tui.host import gpus as gpu_host
from tests.dockerenv import docker_ok
from tests.node.conftest import AgentProcess, job, started_agent, wait_for
from tests.node.dockergpu import engine_with, gpu_panel_live, run_container

HERE = Path(__file__).resolve().parent
PROGRAMS = ("cuda_check", "cuda_burn")  # tests/gpu/NAME.cu, /NAME in the image
IMAGE = "nosana-tui-cuda-check:test"


def _nvcc() -> str | None:
    """nvcc on PATH, else in a CUDA toolkit's usual folder (the newest version first)."""
    found = shutil.which("nvcc")
    if found:
        return found

    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", folder.parent.name))

    for folder in sorted(Path("/usr/local").glob("cuda*/bin"), key=version, reverse=True):
        if (folder / "nvcc").is_file():
            return str(folder / "nvcc")
    return None


def _prebuilt() -> Path | None:
    """The folder of ready-built programs, when ``$NOSANA_TUI_CUDA_PROGRAMS`` names one."""
    folder = Path(os.environ.get("NOSANA_TUI_CUDA_PROGRAMS") or "/nonexistent")
    return folder if all((folder / name).is_file() for name in PROGRAMS) else None


@functools.cache
def _why_not_build() -> str | None:
    """Why the CUDA image cannot be built and run here (no GPU is needed for that)."""
    if _nvcc() is None and _prebuilt() is None:
        return (
            "nvcc is not installed: it builds the CUDA programs (tests/gpu/*.cu); "
            "or set NOSANA_TUI_CUDA_PROGRAMS to a folder of ready-built ones"
        )
    if not docker_ok():
        return "no Docker engine answers (docs/gpu.md: ../shared/gpu/device-dockerd.sh)"
    return None


@functools.cache
def _why_not_gpu() -> str | None:
    if not Path("/dev/nvidiactl").exists():
        return "no NVIDIA GPU here (/dev/nvidiactl is missing): run on a GPU host, see docs/gpu.md"
    return _why_not_build()


pytestmark = [pytest.mark.gpu, pytest.mark.anyio]
needs_gpu = pytest.mark.skipif(_why_not_gpu() is not None, reason=_why_not_gpu() or "")
needs_nvcc = pytest.mark.skipif(_why_not_build() is not None, reason=_why_not_build() or "")


def _libraries(binaries: list[Path]) -> set[Path]:
    found: set[Path] = set()
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
        found.update(Path(p) for p in re.findall(r"(/\S+)", out.stdout))
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for soname in ("libdl.so.2", "libpthread.so.0", "librt.so.1", "libm.so.6"):
        match = re.search(rf"{re.escape(soname)} \(libc6,x86-64\) => (\S+)", cache)
        if match:
            found.add(Path(match.group(1)))
    return found


def _op(
    op_id: str, image: str, cmd: list[str], *, gpu: bool = False, **extra: Any
) -> dict[str, Any]:
    args: dict[str, Any] = {"image": image, "cmd": cmd}
    if gpu:
        args["gpu"] = True
    return {"type": "container/run", "id": op_id, "args": args, **extra}


@pytest.fixture(scope="module")
def cuda_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("cuda")
    binaries = []
    nvcc, prebuilt = _nvcc(), _prebuilt()
    for name in PROGRAMS:
        binary = work / name
        if nvcc is not None:
            source = HERE.parent / "gpu" / f"{name}.cu"
            subprocess.run(
                [nvcc, "-O2", "-cudart", "static", "-o", str(binary), str(source)], check=True
            )
        else:
            assert prebuilt is not None
            shutil.copy(prebuilt / name, binary)
        binaries.append(binary)
    print(f"CUDA programs: {nvcc or prebuilt}", file=sys.stderr)
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        for binary in binaries:
            tar.add(binary, arcname=binary.name)
        for library in sorted(_libraries(binaries)):
            real = library.resolve()
            tar.add(real, arcname=str(library).lstrip("/"))
    with archive.open("rb") as data:
        subprocess.run(["docker", "import", "-", IMAGE], stdin=data, check=True)
    yield IMAGE
    subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    with started_agent(tmp_path_factory.mktemp("gpu-agent")) as proc:
        yield proc


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@needs_nvcc
async def test_the_cuda_image_runs_through_our_backend_and_names_the_missing_driver(
    agent: AgentProcess, cuda_image: str
) -> None:
    """Without a GPU (CI has a CUDA toolkit but no driver): the programs build, the image made
    from them and the host's glibc runs as an op through the agent, and the CUDA runtime's own
    error reaches the op's log with a failed exit code; on a GPU host the op is asked for no GPU
    and gets none, so the answer is the same kind of CUDA error."""
    async with agent.client() as client:
        definition = job(
            *(
                _op(name, cuda_image, [f"/{name}", "1", "16"], execution={"group": "cuda"})
                for name in PROGRAMS
            )
        )
        view = await client.submit(definition, "cuda-no-gpu", "tests/node/test_gpu_host.py")
        done = await wait_for(client, view.id, job_done, 120)
        # each program's own exit code for a CUDA error (cuda_check 2, cuda_burn 1), and the
        # runtime's words: it loaded and asked for a driver, but the op got neither libcuda
        # nor a device
        for name, code in zip(PROGRAMS, (2, 1), strict=True):
            output = "".join([t async for t in client.log_text(view.id, name)])
            op = done.op(name)
            assert op.status is OpStatus.FAILED and op.exit_code == code, (op.message, output)
            assert re.search(r"driver version is insufficient|no CUDA-capable device", output), (
                output
            )
        await client.remove(view.id)


@needs_nvcc
def test_the_cuda_runtime_in_the_container_loads_the_libcuda_passthrough_binds(
    cuda_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library half of passthrough, without a driver: the plan binds a stand-in
    ``libcuda.so.1`` (built here; it says when it is loaded) read-only under the driver folder,
    and the real CUDA runtime of the program in the container finds and loads it through the
    ``LD_LIBRARY_PATH`` the plan sets. With no driver behind it, CUDA then reports an error."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: it builds the stand-in libcuda.so.1")
    source = tmp_path / "standin.c"
    source.write_text(
        "#include <stdio.h>\n"
        "__attribute__((constructor)) static void loaded(void) {\n"
        '  fprintf(stderr, "stand-in libcuda.so.1 loaded\\n");\n'
        "}\n"
        "int cuDriverGetVersion(int *version) { *version = 0; return 0; }\n",
        encoding="utf-8",
    )
    library = tmp_path / "libcuda.so.0.0.0"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    plan = gpu_host.Passthrough(
        devices=[],
        binds=[(str(library), f"{gpu_host.LIB_DIR}/libcuda.so.1")],
        env={"LD_LIBRARY_PATH": gpu_host.LIB_DIR},
    )
    monkeypatch.setattr(gpu_host, "plan_passthrough", lambda ids: plan)
    backend = DockerBackend(agent_id="gpu-test")
    # on a GPU host the engine may have the toolkit or CDI: this test is about passthrough
    runtimes = {
        k: v for k, v in (backend.client.info().get("Runtimes") or {}).items() if k != "nvidia"
    }
    engine_with(backend, monkeypatch, Runtimes=runtimes, DiscoveredDevices=[], CDISpecDirs=[])
    assert asyncio.run(backend.gpu_access()).mode == "passthrough"
    out = run_container(backend, "", {}, cmd=["/cuda_check"], image=cuda_image)
    print(f"\n--- /cuda_check with the stand-in bound ---\n{out}", file=sys.stderr)
    assert "stand-in libcuda.so.1 loaded" in out, out
    assert "cuda error:" in out, out  # no driver behind it: the runtime says so, and exits


@needs_gpu
async def test_gpu_op_runs_cuda_through_passthrough(agent: AgentProcess, cuda_image: str) -> None:
    async with agent.client() as client:
        info = await client.info()
        assert info.gpus, info.gpu_note
        print(f"\nnode GPUs ({info.gpu_source}, access {info.gpu_access}):", file=sys.stderr)
        for gpu in info.gpus:
            print(f"  {gpu.model_dump_json()}", file=sys.stderr)
        definition = job(_op("cuda", cuda_image, ["/cuda_check"], gpu=True))
        view = await client.submit(definition, "gpu-proof", "tests/node/test_gpu_host.py")
        done = await wait_for(client, view.id, job_done, 120)
        output = "".join([t async for t in client.log_text(view.id, "cuda")])
        system = "".join([t async for t in client.log_text(view.id, "system")])
        print(f"\n--- op output ---\n{output}--- system log ---\n{system}", file=sys.stderr)
        op = done.op("cuda")
        assert op.status is OpStatus.FINISHED and op.exit_code == 0, (op.message, output)
        match = re.search(r"device (.+), \d+ MiB, sum (\d+) \(expect (\d+)\)", output)
        assert match and match.group(2) == match.group(3), output
        assert info.gpus[0].name in match.group(1)
        if info.gpu_access == "passthrough":
            assert "GPU access: direct passthrough" in system
        telemetry = await client.gpus()
        assert telemetry.gpus and telemetry.history
        await client.remove(view.id)


@needs_gpu
async def test_admission_refuses_more_vram_than_the_card_has(agent: AgentProcess) -> None:
    async with agent.client() as client:
        info = await client.info()
        biggest = max(g.memory_total_mb for g in info.gpus)
        definition = job(
            _op("big", "none", ["true"], gpu=True),
            meta={"system_requirements": {"vram_total_mb": biggest * 2}},
        )
        with pytest.raises(NodeError) as err:
            await client.submit(definition)
        print(f"\nrefused: {err.value}", file=sys.stderr)
        assert err.value.status == 409
        assert f"this node has {len(info.gpus)} GPU" in str(err.value)


@needs_gpu
async def test_tui_gpu_panel_shows_a_running_op_live(
    agent: AgentProcess,
    cuda_image: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The Nodes screen's GPU panel, at 80x24 against the real agent, while an op of ours keeps
    the card busy: utilisation and memory move, and the op's process is named by job and op.
    The screen is captured (SVG and text) for docs/gpu.md."""
    folder = Path(os.environ.get("NOSANA_TUI_GPU_CAPTURE") or tmp_path)
    async with agent.client() as client:
        definition = job(_op("burn", cuda_image, ["/cuda_burn", "90", "4096"], gpu=True))
        view = await client.submit(definition, "gpu-panel", "tests/node/test_gpu_host.py")
        try:
            text, telemetry = await gpu_panel_live(agent, view.id, "burn", folder, monkeypatch)
            print(f"\n--- TUI at 80x24 ({folder}) ---\n{text}", file=sys.stderr)
            process = next(p for p in telemetry.processes if p.job_id == view.id)
            assert process.memory_mb >= 4096, process
            assert "burn" in text and view.id[:12] in text, text
        finally:
            await client.stop_job(view.id)
            await wait_for(client, view.id, job_done, 60)
            await client.remove(view.id)
