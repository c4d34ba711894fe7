"""On a GPU host: ``gpu: true`` really gets the GPU, through the agent and our Docker backend,
without the NVIDIA container toolkit (direct passthrough); admission refuses more VRAM than the
card has; the telemetry route reports the card. Skipped elsewhere, saying why (CI has no GPU).

The CUDA program is ``tests/gpu/cuda_check.cu`` (from ../shared/gpu), built here with
``nvcc -O2 -cudart static``; the image is made from it and the host's glibc files only (no
registry is needed): the libraries ``ldd`` names, plus libdl, libpthread and librt, which libcuda
links. ``docs/gpu.md`` says how to run this on the lent GPU machine.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nosana_tui.client.node import NodeClient, NodeError, job_done
from nosana_tui.spec.status import JobView, OpStatus
from tests.node.conftest import AgentProcess, _remove_all, free_port

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "gpu" / "cuda_check.cu"
IMAGE = "nosana-tui-cuda-check:test"


def _why_not() -> str | None:
    if not Path("/dev/nvidiactl").exists():
        return "no NVIDIA GPU here (/dev/nvidiactl is missing): run on a GPU host, see docs/gpu.md"
    if shutil.which("nvcc") is None:
        return "nvcc is not installed: it builds the CUDA check program (tests/gpu/cuda_check.cu)"
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False).returncode
    ):
        return "no Docker engine answers (docs/gpu.md: ../shared/gpu/device-dockerd.sh)"
    return None


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.anyio,
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
]


def _libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    found = [Path(p) for p in re.findall(r"(/\S+)", out)]
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for soname in ("libdl.so.2", "libpthread.so.0", "librt.so.1", "libm.so.6"):
        match = re.search(rf"{re.escape(soname)} \(libc6,x86-64\) => (\S+)", cache)
        if match:
            found.append(Path(match.group(1)))
    return found


@pytest.fixture(scope="module")
def cuda_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("cuda")
    binary = work / "cuda_check"
    subprocess.run(["nvcc", "-O2", "-cudart", "static", "-o", str(binary), str(SOURCE)], check=True)
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(binary, arcname="cuda_check")
        for library in _libraries(binary):
            real = library.resolve()
            tar.add(real, arcname=str(library).lstrip("/"))
    with archive.open("rb") as data:
        subprocess.run(["docker", "import", "-", IMAGE], stdin=data, check=True)
    yield IMAGE
    subprocess.run(["docker", "rmi", "-f", IMAGE], capture_output=True, check=False)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    root = tmp_path_factory.mktemp("gpu-agent")
    port = free_port()
    proc = AgentProcess(f"http://127.0.0.1:{port}", port, root / "config", root / "data")
    proc.data_dir.mkdir(parents=True)
    proc.start()
    try:
        yield proc
    finally:
        asyncio.run(_remove_all(proc))
        proc.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_gpu_op_runs_cuda_through_passthrough(agent: AgentProcess, cuda_image: str) -> None:
    async with agent.client() as client:
        info = await client.info()
        assert info.gpus, info.gpu_note
        print(f"\nnode GPUs ({info.gpu_source}, access {info.gpu_access}):", file=sys.stderr)
        for gpu in info.gpus:
            print(f"  {gpu.model_dump_json()}", file=sys.stderr)
        definition = {
            "version": "0.1",
            "type": "container",
            "ops": [
                {
                    "type": "container/run",
                    "id": "cuda",
                    "args": {"image": cuda_image, "cmd": ["/cuda_check"], "gpu": True},
                }
            ],
        }
        view = await client.submit(definition, "gpu-proof", "tests/node/test_gpu_host.py")
        done = await asyncio.wait_for(_wait_done(client, view.id), 120)
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


async def test_admission_refuses_more_vram_than_the_card_has(agent: AgentProcess) -> None:
    async with agent.client() as client:
        info = await client.info()
        biggest = max(g.memory_total_mb for g in info.gpus)
        definition = {
            "version": "0.1",
            "type": "container",
            "meta": {"system_requirements": {"vram_total_mb": biggest * 2}},
            "ops": [
                {
                    "type": "container/run",
                    "id": "big",
                    "args": {"image": "none", "cmd": ["true"], "gpu": True},
                }
            ],
        }
        with pytest.raises(NodeError) as err:
            await client.submit(definition)
        print(f"\nrefused: {err.value}", file=sys.stderr)
        assert err.value.status == 409
        assert f"this node has {len(info.gpus)} GPU" in str(err.value)


async def _wait_done(client: NodeClient, job_id: str) -> JobView:
    while True:
        view = await client.job(job_id)
        if job_done(view):
            return view
        await asyncio.sleep(0.5)
