"""The GPU telemetry pipeline end to end with a stand-in ``nvidia-smi`` (no GPU here): the agent
discovers the card, samples it while someone watches, maps the process of one of our containers
(by its real host PID and cgroup) to its job and op, serves it at ``GET /api/gpus``, and the
TUI's GPU panel shows it live at 80x24.

The stand-in is the one fake: a script that answers nvidia-smi's three queries in NVIDIA's
formats, its load changing each second, its process list the host PIDs of the running
containers labelled with the op named in ``$STANDIN_GPU_OP``. The op itself is a busybox
``sleep`` (it asks for no GPU: the node has none to give), so everything between the driver's
answers and the screen is the real agent, engine, client and UI. The same check on a real card
is ``tests/node/test_gpu_host.py``.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nosana_tui.client.node import job_done, job_ready
from tests.dockerenv import ensure_docker
from tests.node.conftest import AgentProcess, job, run_op, started_agent, wait_for
from tests.node.dockergpu import gpu_panel_live


def _why_skip() -> str | None:
    if Path("/dev/nvidiactl").exists():
        return "a real NVIDIA driver is here: tests/node/test_gpu_host.py checks the real thing"
    if shutil.which("docker") is None:
        return "the stand-in nvidia-smi asks the docker command line for container PIDs"
    return None


pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or ""),
]

STANDIN = r"""#!/bin/sh
# A stand-in nvidia-smi for tests (tests/node/test_gpu_telemetry.py): one GPU.
uuid=GPU-5e1f9f2c-8a4b-4a0e-9f1e-2b6d3c4a5b6c
case "$1" in
  --query-gpu=*)
    now=$(date +%s)
    echo "0, NVIDIA Stand-in H100, $uuid, 81559, 4700, $(( now % 7 * 10 + 20 )), 580.159.04, 9.0" ;;
  --query-compute-apps=*)
    for id in $(docker ps -q --filter "label=nosana-tui.op=$STANDIN_GPU_OP"); do
      echo "$uuid, $(docker inspect -f '{{.State.Pid}}' "$id"), 4608"
    done ;;
  *)
    echo "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0     |" ;;
esac
"""


@pytest.fixture
def standin_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgentProcess]:
    ensure_docker()
    tools = tmp_path / "bin"
    tools.mkdir()
    smi = tools / "nvidia-smi"
    smi.write_text(STANDIN, encoding="utf-8")
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_GPU_OP", "trainer")
    with started_agent(tmp_path) as agent:
        yield agent


async def test_an_ops_gpu_process_is_named_by_job_and_op_from_driver_to_screen(
    standin_agent: AgentProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with standin_agent.client() as client:
        info = await client.info()
        assert info.gpu_source == "nvidia-smi"
        assert [(g.name, g.memory_total_mb, g.cuda_version) for g in info.gpus] == [
            ("NVIDIA Stand-in H100", 81559, "13.0")
        ]
        assert info.gpu_access == "none"  # a driver's tools, but no /dev/nvidiactl to pass
        view = await client.submit(job(run_op("trainer", "sleep 120")), "stand-in")
        await wait_for(client, view.id, job_ready, 30)
        try:
            text, telemetry = await gpu_panel_live(
                standin_agent, view.id, "trainer", tmp_path, monkeypatch, busy_samples=3
            )
            [process] = [p for p in telemetry.processes if p.job_id == view.id]
            assert process.op_id == "trainer" and process.memory_mb == 4608
            op = (await client.job(view.id)).op("trainer")
            assert op.container_id and process.container_id == op.container_id
            print(f"\n--- TUI at 80x24, stand-in nvidia-smi ---\n{text}")
            rows = text.splitlines()
            assert len(rows) == 24
            assert any("#0 NVIDIA Stand-in H100" in row for row in rows), text
            assert any(
                view.id[:12] in row and "trainer" in row and "4608" in row for row in rows
            ), text
            assert "access none" in text and "CUDA 13.0" in text, text
        finally:
            await client.stop_job(view.id)
            await wait_for(client, view.id, job_done, 60)
            await client.remove(view.id)
