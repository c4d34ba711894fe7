"""Admission: a job asking for more GPU than the node has is refused before anything starts."""

from __future__ import annotations

from typing import Any

import pytest

from nosana_tui.api.models import GpuDevice
from nosana_tui.engine.admission import admit, gpu_need
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.dstack.convert import convert_document
from nosana_tui.jobformat.source import parse_text
from nosana_tui.jobformat.validate import validate_data

H100 = GpuDevice(index=0, name="NVIDIA H100 80GB HBM3", memory_total_mb=81559)
A10G = [
    GpuDevice(index=0, name="NVIDIA A10G", memory_total_mb=23028),
    GpuDevice(index=1, name="NVIDIA A10G", memory_total_mb=23028),
]
A100 = GpuDevice(index=0, name="NVIDIA A100-SXM4-40GB", memory_total_mb=40960)


def job(requirements: dict[str, Any] | None) -> m.JobDefinition:
    data: dict[str, Any] = {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "x", "args": {"image": "busybox", "gpu": True}}],
    }
    if requirements is not None:
        data["meta"] = {"system_requirements": requirements}
    parsed, diags = validate_data(data)
    assert parsed is not None, diags
    return parsed


def dstack(resources: str) -> m.JobDefinition:
    text = f"type: service\nimage: busybox\ncommands: [httpd]\nport: 80\nresources:\n{resources}"
    result = convert_document(parse_text("svc.dstack.yml", text))
    assert result.job is not None, result.report.diagnostics
    return result.job


def test_no_requirement_is_admitted_anywhere() -> None:
    assert admit(job(None), []).ok
    assert gpu_need(job({"cpu": 4})) is None


@pytest.mark.parametrize(
    ("requirements", "gpus", "ok"),
    [
        ({"required_vram": 6}, [H100], True),
        ({"required_vram": 80}, [H100], True),  # sold as 80 GB, reports 79.6 GiB: within 10 %
        ({"required_vram": 96}, [H100], False),
        ({"vram_total_mb": 6144}, A10G, True),
        ({"vram_total_mb": 24576}, A10G, True),  # sold as 24 GB, reports 22.5 GiB (93.7 %)
        ({"vram_total_mb": 26624}, A10G, False),  # 26 GiB: 22.5 is 86.5 % of it
        ({"vram_total_mb": 40960}, A10G, False),  # per GPU: two of 22.5 GiB are not one of 40
        ({"required_vram": 4, "vram_total_mb": 49152}, [A100], False),  # the larger need wins
        ({"required_vram": 1}, [], False),
    ],
)
def test_vram_keys(requirements: dict[str, Any], gpus: list[GpuDevice], ok: bool) -> None:
    assert admit(job(requirements), gpus).ok is ok


def test_refusal_names_the_need_and_what_the_node_has() -> None:
    result = admit(job({"vram_total_mb": 40960}), A10G)
    assert result.message == (
        "the job needs 1 GPU with at least 40 GiB VRAM; this node has 2 GPUs: "
        "#0 NVIDIA A10G (22.5 GiB), #1 NVIDIA A10G (22.5 GiB). Nothing was started."
    )
    none = admit(job({"required_vram": 6}), [], note="nvidia-smi not found")
    assert none.message == (
        "the job needs 1 GPU with at least 6 GiB VRAM; this node has no GPU "
        "(nvidia-smi not found). Nothing was started."
    )


def test_a_gpu_without_a_memory_figure_meets_a_gpu_need_but_no_memory_need() -> None:
    """GB10 (DGX Spark) has unified memory: nvidia-smi says [N/A] for its total."""
    gb10 = [GpuDevice(index=0, name="NVIDIA GB10", memory_total_mb=0)]
    assert admit(job({"gpu_count_min": 1, "gpu_count_max": 1}), gb10).ok
    refused = admit(job({"required_vram": 8}), gb10)
    assert not refused.ok
    assert "this node has 1 GPU: #0 NVIDIA GB10 (memory not reported)" in refused.message


def test_flat_gpu_keys_written_by_hand() -> None:
    """The keys a converted service carries, as anyone may write them (all network-valid)."""
    two = {"gpu_names": ["A10G"], "gpu_count_min": 2, "gpu_memory_gb_min": 24}
    assert admit(job(two), A10G).gpus == (0, 1)
    assert not admit(job(two), [H100]).ok
    assert gpu_need(job({"gpu_names": ["A10G"], "gpu_count_min": 0})) is None  # optional
    # a VRAM key makes an optional GPU a need of one
    assert admit(job({"gpu_count_min": 0, "required_vram": 8}), []).ok is False


def test_dstack_count_range_takes_the_smallest_count_that_fits() -> None:
    wanted = dstack("  gpu: 1..4\n")
    result = admit(wanted, A10G)
    assert result.ok and result.gpus == (0,)
    assert not admit(dstack("  gpu: 3..4\n"), A10G).ok


def test_dstack_total_memory_raises_the_count_until_it_fits() -> None:
    wanted = dstack("  gpu:\n    count: 1..2\n    total_memory: 40GB..\n")
    result = admit(wanted, A10G)
    assert result.ok and result.gpus == (0, 1)  # one A10G is 22.5 GiB: two are needed
    assert not admit(dstack("  gpu:\n    count: 1..2\n    total_memory: 80GB..\n"), A10G).ok
    # one value is that size: 2 x 22.5 GiB is not "40GB"
    assert not admit(dstack("  gpu:\n    count: 1..2\n    total_memory: 40GB\n"), A10G).ok


def test_dstack_names_match_whole_model_words() -> None:
    assert admit(dstack("  gpu: H100\n"), [H100]).ok
    assert admit(dstack("  gpu: H100:80GB\n"), [H100]).ok  # one size: the card sold as it
    assert admit(dstack("  gpu: A10G:24GB:2\n"), A10G).ok
    assert admit(dstack("  gpu: A100:40GB\n"), [A100]).ok
    assert not admit(dstack("  gpu: A10\n"), [A100]).ok  # A10 is not A100
    refused = admit(dstack("  gpu: A100:2\n"), [H100])
    assert not refused.ok
    assert "2 GPUs (A100)" in refused.message and "#0 NVIDIA H100 80GB HBM3" in refused.message


def test_dstack_memory_range_per_gpu() -> None:
    assert admit(dstack("  gpu: 24GB..\n"), [H100]).ok
    assert not admit(dstack("  gpu: 48GB..\n"), A10G).ok
    assert not admit(dstack("  gpu: 8GB..16GB\n"), [H100]).ok  # capped below the card


def test_dstack_optional_gpu_is_no_requirement() -> None:
    assert admit(dstack("  gpu: 0..1\n"), []).ok


def test_other_vendors_are_refused_with_why() -> None:
    result = admit(dstack("  gpu: MI300X\n"), [H100])
    assert not result.ok
    assert "NVIDIA GPUs only (amd asked)" in result.message


def test_compute_capability() -> None:
    h100 = H100.model_copy(update={"compute_capability": "9.0"})
    old = GpuDevice(index=0, name="Tesla T4", memory_total_mb=15360, compute_capability="7.5")
    wanted = dstack("  gpu:\n    compute_capability: 8.0\n")
    assert admit(wanted, [h100]).ok
    assert not admit(wanted, [old]).ok
