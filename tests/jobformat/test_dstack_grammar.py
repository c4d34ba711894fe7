"""Conformance tests for the dstack value grammars.

Every row of ``reference/dstack.md`` §2.2 (GPU) and §2.3 (cpu, memory, disk, shm_size,
Range[int], replicas, port) is here, plus the env, volume and duration rows of §1.6-§1.8.
``None`` stands for the reference's ``∞`` (an open end) and for ``–`` (not set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from nosana_tui.jobformat.dstack.grammar import (
    TPU_PREFIX_WARNING,
    CPUSpec,
    GPUSpec,
    GrammarError,
    Range,
    ResourcesSpec,
    VolumeMount,
    gpu_vendors_of_name,
    infer_gpu_vendor,
    nvidia_compute_capability,
    parse_cpu,
    parse_disk,
    parse_duration,
    parse_env,
    parse_gpu,
    parse_idle_duration,
    parse_int_range,
    parse_memory,
    parse_memory_range,
    parse_off_duration,
    parse_port_mapping,
    parse_replicas,
    parse_resources,
    parse_service_port,
    parse_volume,
    pretty_gpu,
    pretty_resources,
)

Bounds = tuple[int | float | None, int | float | None]


def _spell(value: Any) -> str:
    """Compact, readable spelling of a YAML-ish value for a test id."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_spell(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_spell(v) for v in value) + "]"
    if value == "" or (isinstance(value, str) and value != value.strip()):
        return repr(value)
    if isinstance(value, str) and "\n" in value:
        return value.replace("\n", "\\n")
    return str(value)


def _id(kind: str, value: Any) -> str:
    """``gpu-A100:40GB:2``; a string of digits is quoted to tell ``"1"`` from the int ``1``."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return f"{kind}-'{value}'"
    return f"{kind}-{_spell(value)}"


def _bounds(r: Range[Any] | None) -> Bounds | None:
    return None if r is None else (r.min, r.max)


# --------------------------------------------------------------------------------------------
# §2.2 GPU conformance cases
# --------------------------------------------------------------------------------------------

NV = ("nvidia", "nvidia")  # vendor after inference: (default image, custom image)
NV_ONLY_DEFAULT = ("nvidia", None)


@dataclass(frozen=True)
class GpuRow:
    spec: Any
    vendor: str | None
    names: list[str] | None
    count: Bounds
    memory: Bounds | None = None
    # (default image, custom image); None where the reference gives no inferred vendor ("—").
    inferred: tuple[str | None, str | None] | None = None
    total_memory: Bounds | None = None
    compute_capability: tuple[int, int] | None = None
    warnings: tuple[str, ...] = ()


def _same(vendor: str | None) -> tuple[str | None, str | None]:
    return (vendor, vendor)


GPU_ROWS: list[GpuRow] = [
    GpuRow("24GB", None, None, (1, None), (24, 24), NV_ONLY_DEFAULT),
    GpuRow("24GB..", None, None, (1, None), (24, None), NV_ONLY_DEFAULT),
    GpuRow("..80GB", None, None, (1, None), (None, 80), NV_ONLY_DEFAULT),
    GpuRow("24GB..80GB", None, None, (1, None), (24, 80), NV_ONLY_DEFAULT),
    GpuRow("16GB", None, None, (1, None), (16, 16)),
    GpuRow("16GB..32", None, None, (1, None), (16, 32)),
    GpuRow("A100", None, ["A100"], (1, None), None, NV),
    GpuRow("a100", None, ["a100"], (1, None), None, NV),
    GpuRow("A10G,A100", None, ["A10G", "A100"], (1, None), None, NV),
    GpuRow("A10,A10G:2", None, ["A10", "A10G"], (2, 2), None, NV),
    GpuRow("A100:80GB", None, ["A100"], (1, None), (80, 80), NV),
    GpuRow("A100:2", None, ["A100"], (2, 2), None, NV),
    GpuRow("A100:1..", None, ["A100"], (1, None), None, NV),
    GpuRow("24GB..40GB:2", None, None, (2, 2), (24, 40), NV_ONLY_DEFAULT),
    GpuRow("80GB:2", None, None, (2, 2), (80, 80), NV_ONLY_DEFAULT),
    GpuRow("A100:40GB:2", None, ["A100"], (2, 2), (40, 40), NV),
    GpuRow("nvidia:A100:80GB:8", "nvidia", ["A100"], (8, 8), (80, 80), NV),
    GpuRow("H100:8", None, ["H100"], (8, 8), None, NV),
    GpuRow(1, None, None, (1, 1), None, NV_ONLY_DEFAULT),
    GpuRow("1", None, None, (1, 1), None, NV_ONLY_DEFAULT),
    GpuRow("2", None, None, (2, 2), None, NV_ONLY_DEFAULT),
    GpuRow("1..2", None, None, (1, 2), None, NV_ONLY_DEFAULT),
    GpuRow("2..", None, None, (2, None), None, NV_ONLY_DEFAULT),
    GpuRow(0, None, None, (0, 0), None, (None, None)),  # no GPU: nothing is inferred
    GpuRow("0..", None, None, (0, None), None, NV_ONLY_DEFAULT),
    GpuRow("RTX4090", None, ["RTX4090"], (1, None), None, NV),
    GpuRow("nvidia", "nvidia", None, (1, None), None, NV),
    GpuRow("Nvidia", "nvidia", None, (1, None), None, NV),
    GpuRow("NVIDIA", "nvidia", None, (1, None), None, NV),
    GpuRow("amd", "amd", None, (1, None), None, _same("amd")),
    GpuRow("amd:2", "amd", None, (2, 2), None, _same("amd")),
    GpuRow("MI300X:AMD", "amd", ["MI300X"], (1, None), None, _same("amd")),
    GpuRow("Mi300X", None, ["Mi300X"], (1, None), None, _same("amd")),
    GpuRow("MI300X:8", None, ["MI300X"], (8, 8), None, _same("amd")),
    GpuRow("Gaudi2", None, ["Gaudi2"], (1, None), None, _same("intel")),
    GpuRow("n300", None, ["n300"], (1, None), None, _same("tenstorrent")),
    GpuRow("tt:32", "tenstorrent", None, (32, 32), None, _same("tenstorrent")),
    GpuRow("tpu", "google", None, (1, None), None, _same("google")),
    GpuRow("TPU", "google", None, (1, None), None, _same("google")),
    GpuRow("Google", "google", None, (1, None), None, _same("google")),
    GpuRow("google:v3-64", "google", ["v3-64"], (1, None), None, _same("google")),
    GpuRow("tpu:v5p-1024", "google", ["v5p-1024"], (1, None), None, _same("google")),
    GpuRow("v5litepod-64:TPU", "google", ["v5litepod-64"], (1, None), None, _same("google")),
    GpuRow("v5litepod-8", None, ["v5litepod-8"], (1, None), None, _same("google")),
    GpuRow(
        "tpu-v3-2048",
        None,
        ["v3-2048"],
        (1, None),
        None,
        _same("google"),
        warnings=(TPU_PREFIX_WARNING,),
    ),
    GpuRow("a40,l40", None, ["a40", "l40"], (1, None), None, NV),
    GpuRow("H100,MI300X", None, ["H100", "MI300X"], (1, None), None, _same(None)),
    GpuRow("A100,UNKNOWN1000", None, ["A100", "UNKNOWN1000"], (1, None), None, _same(None)),
    GpuRow("UNKNOWN1000", None, ["UNKNOWN1000"], (1, None), None, _same(None)),
    GpuRow({"vendor": "amd", "count": 2}, "amd", None, (2, 2), None, _same("amd")),
    GpuRow(
        {"name": "H100", "total_memory": "160GB..", "compute_capability": "9.0"},
        None,
        ["H100"],
        (1, None),
        None,
        NV,
        total_memory=(160, None),
        compute_capability=(9, 0),
    ),
]


@pytest.mark.parametrize("row", GPU_ROWS, ids=[_id("gpu", r.spec) for r in GPU_ROWS])
def test_gpu_conformance(row: GpuRow) -> None:
    spec, warnings = parse_gpu(row.spec)
    assert spec.vendor == row.vendor
    assert spec.names == row.names
    assert _bounds(spec.count) == row.count
    assert _bounds(spec.memory) == row.memory
    assert _bounds(spec.total_memory) == row.total_memory
    assert spec.compute_capability == row.compute_capability
    assert tuple(warnings) == row.warnings
    if row.inferred is not None:
        default_image, custom_image = row.inferred
        assert infer_gpu_vendor(spec, default_image=True) == default_image
        assert infer_gpu_vendor(spec, default_image=False) == custom_image


GPU_ERROR_ROWS: list[tuple[Any, str]] = [
    ("A100,:2", "GPU name can not be empty"),
    ("A100:", "GPU spec contains empty token"),
    ("", "GPU spec contains empty token"),
    (":", "GPU spec contains empty token"),
    ("Nvidia:A100:2:AMD", "GPU spec vendor conflict"),
    ("A100:2:3", "GPU spec count conflict"),
    ("..", "Invalid empty range: .."),
]


@pytest.mark.parametrize(
    ("spec", "message"), GPU_ERROR_ROWS, ids=[_id("gpu", s) for s, _ in GPU_ERROR_ROWS]
)
def test_gpu_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_gpu(spec)
    assert str(info.value).startswith(message)


GPU_MORE_ERROR_ROWS: list[tuple[Any, str]] = [
    ("24GB:A100:16GB", "GPU spec memory conflict"),
    ("A100:H100", "GPU spec name conflict"),
    ({"name": "A100", "gpus": 1}, "Extra inputs are not permitted: 'gpus'"),
    ({"vendor": "nvida"}, "Invalid GPU vendor: nvida"),
    ({"compute_capability": "9"}, "Invalid compute capability: 9"),
    (True, "Invalid GPU spec"),
    (1.5, "Invalid GPU spec"),
]


@pytest.mark.parametrize(
    ("spec", "message"),
    GPU_MORE_ERROR_ROWS,
    ids=[_id("gpu", s) for s, _ in GPU_MORE_ERROR_ROWS],
)
def test_gpu_more_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_gpu(spec)
    assert str(info.value).startswith(message)


def test_gpu_error_is_located_inside_a_mapping() -> None:
    with pytest.raises(GrammarError) as info:
        parse_gpu({"count": "3..1"})
    assert info.value.loc == ("count",)
    assert str(info.value) == "Invalid range order: 3..1"


def test_gpu_mapping_name_list_and_tpu_prefix() -> None:
    spec, warnings = parse_gpu({"name": ["tpu-v5p-8", "v3-64"], "vendor": "TPU"})
    assert spec.names == ["v5p-8", "v3-64"]
    assert spec.vendor == "google"
    assert warnings == [TPU_PREFIX_WARNING]


def test_gpu_4090_is_a_count_not_a_name() -> None:
    spec, _ = parse_gpu("4090")
    assert spec.names is None
    assert _bounds(spec.count) == (4090, 4090)


@pytest.mark.parametrize(
    ("name", "vendors"),
    [
        ("a100", {"nvidia"}),
        ("MI325X", {"amd"}),
        ("gaudi3", {"intel"}),
        ("P150A", {"tenstorrent"}),
        ("v6e-256", {"google"}),
        ("v7-8", set()),
        ("v5p-abc", set()),
        ("nope", set()),
    ],
)
def test_gpu_vendors_of_name(name: str, vendors: set[str]) -> None:
    assert gpu_vendors_of_name(name) == vendors


def test_nvidia_compute_capability() -> None:
    assert nvidia_compute_capability("a100") == (8, 0)
    assert nvidia_compute_capability("H100") == (9, 0)
    assert nvidia_compute_capability("MI300X") is None


def test_inferred_vendor_keeps_the_users_vendor_even_with_no_gpu() -> None:
    spec = GPUSpec(vendor="amd", count=Range(0, 0))
    assert infer_gpu_vendor(spec, default_image=True) == "amd"


# Pretty-printed form (§2.2, CLI-RUN).
PRETTY_ROWS: list[tuple[Any, str]] = [
    ("A100:80GB:2", "A100:80GB:2"),
    ("24GB..40GB:2", "24GB..40GB:2"),
    ("nvidia:1", "nvidia:1"),
    ({"name": "A100", "memory": "40GB", "count": 2, "total_memory": "80GB"}, "A100:40GB:2:80GB"),
    ({"count": 1, "compute_capability": 8.0}, "1:8.0"),
    ("512MB..1TB", "0.5GB..1024GB:1.."),
]


@pytest.mark.parametrize(
    ("spec", "expected"), PRETTY_ROWS, ids=[_id("pretty", s) for s, _ in PRETTY_ROWS]
)
def test_pretty_gpu(spec: Any, expected: str) -> None:
    assert pretty_gpu(parse_gpu(spec)[0]) == expected


def test_pretty_default_resources() -> None:
    assert pretty_resources(parse_resources(None)[0]) == "cpu=2.. mem=8GB.. disk=100GB.. gpu=0.."


def test_pretty_resources_arm() -> None:
    spec, _ = parse_resources({"cpu": "arm:4", "memory": "16GB", "gpu": "H100:2"})
    assert pretty_resources(spec) == "cpu=arm:4 mem=16GB disk=100GB.. gpu=H100:2"


# --------------------------------------------------------------------------------------------
# §2.3 cpu
# --------------------------------------------------------------------------------------------

CPU_ROWS: list[tuple[Any, str | None, Bounds]] = [
    (1, None, (1, 1)),
    ("4", None, (4, 4)),
    ("4..", None, (4, None)),
    ("..8", None, (None, 8)),
    ("1..2", None, (1, 2)),
    ("X86", "x86", (2, None)),
    ("x86:2", "x86", (2, 2)),
    ("2..:ARM", "arm", (2, None)),
    ("arm:8..", "arm", (8, None)),
    ({"min": 1, "max": 2}, None, (1, 2)),
    ({"min": 1}, None, (1, None)),
    ({"max": 2}, None, (None, 2)),
    ({}, None, (2, None)),
    ({"arch": "ARM", "count": {"min": 1, "max": 2}}, "arm", (1, 2)),
]


@pytest.mark.parametrize(
    ("spec", "arch", "count"), CPU_ROWS, ids=[_id("cpu", s) for s, _, _ in CPU_ROWS]
)
def test_cpu_conformance(spec: Any, arch: str | None, count: Bounds) -> None:
    cpu = parse_cpu(spec)
    assert cpu.arch == arch
    assert _bounds(cpu.count) == count


CPU_ERROR_ROWS: list[tuple[Any, str]] = [
    ("arm:", "CPU spec contains empty token"),
    ("2:foo", "Invalid CPU architecture"),
    ("arm:x86", "CPU spec arch conflict"),
    ("2:arm:2", "CPU spec count conflict"),
    ("4GB", "Invalid CPU architecture"),
    ({"arch": "x86", "min": 1, "max": 2}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(
    ("spec", "message"), CPU_ERROR_ROWS, ids=[_id("cpu", s) for s, _ in CPU_ERROR_ROWS]
)
def test_cpu_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_cpu(spec)
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------------------------
# §2.3 memory
# --------------------------------------------------------------------------------------------

MEMORY_RANGE_ROWS: list[tuple[Any, Bounds]] = [
    ("8GB", (8, 8)),
    ("8GB..", (8, None)),
    ("..64GB", (None, 64)),
    ("8GB..64GB", (8, 64)),
    ("512MB", (0.5, 0.5)),
    ("512MB..", (0.5, None)),
    ("..1 TB", (None, 1024)),
    ("512..1 TB", (512, 1024)),
    ("16", (16, 16)),
    ({"min": "512MB", "max": "1TB"}, (0.5, 1024)),
]


@pytest.mark.parametrize(
    ("spec", "expected"), MEMORY_RANGE_ROWS, ids=[_id("memory", s) for s, _ in MEMORY_RANGE_ROWS]
)
def test_memory_range_conformance(spec: Any, expected: Bounds) -> None:
    assert _bounds(parse_memory_range(spec)) == expected


MEMORY_SCALAR_ROWS: list[tuple[Any, float]] = [
    ("16 Gb", 16.0),
    ("1 TB ", 1024.0),
    ("1.5", 1.5),
    ("1", 1.0),
    ("1.5TB", 1536.0),
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    MEMORY_SCALAR_ROWS,
    ids=[_id("memory", s) for s, _ in MEMORY_SCALAR_ROWS],
)
def test_memory_scalar_conformance(spec: Any, expected: float) -> None:
    value = parse_memory(spec)
    assert isinstance(value, float)
    assert value == expected


MEMORY_ERROR_ROWS: list[tuple[Any, str]] = [
    ("1.5xb", "Could not convert '1.5xb' to memory"),
    ("8GiB", "Could not convert '8GiB' to memory"),
    ("...", "Could not convert"),
    ("..", "Invalid empty range: .."),
    ("32GB..16GB", "Invalid range order: 32..16"),
]


@pytest.mark.parametrize(
    ("spec", "message"), MEMORY_ERROR_ROWS, ids=[_id("memory", s) for s, _ in MEMORY_ERROR_ROWS]
)
def test_memory_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_memory_range(spec)
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------------------------
# §2.3 disk and shm_size
# --------------------------------------------------------------------------------------------

DISK_ROWS: list[tuple[Any, Bounds]] = [
    ("200GB..", (200, None)),
    ("100GB", (100, 100)),
    ("..500GB", (None, 500)),
    ("100GB..1TB", (100, 1024)),
    (200, (200, 200)),
    ({"size": "100GB.."}, (100, None)),
]


@pytest.mark.parametrize(("spec", "size"), DISK_ROWS, ids=[_id("disk", s) for s, _ in DISK_ROWS])
def test_disk_conformance(spec: Any, size: Bounds) -> None:
    assert _bounds(parse_disk(spec).size) == size


def test_disk_errors() -> None:
    with pytest.raises(GrammarError, match="Extra inputs"):
        parse_disk({"size": "1TB", "type": "ssd"})
    with pytest.raises(GrammarError, match="Field required"):
        parse_disk({})


SHM_ROWS: list[tuple[Any, float]] = [("16GB", 16.0), ("512MB", 0.5), (8, 8.0), ("1TB", 1024.0)]


@pytest.mark.parametrize(("spec", "size"), SHM_ROWS, ids=[_id("shm_size", s) for s, _ in SHM_ROWS])
def test_shm_size_conformance(spec: Any, size: float) -> None:
    resources, _ = parse_resources({"shm_size": spec})
    assert resources.shm_size == size  # a scalar, not a range


def test_shm_size_is_not_a_range() -> None:
    with pytest.raises(GrammarError) as info:
        parse_resources({"shm_size": "8GB.."})
    assert info.value.loc == ("shm_size",)


# --------------------------------------------------------------------------------------------
# §2.3 Range[int]
# --------------------------------------------------------------------------------------------

INT_RANGE_ROWS: list[tuple[Any, Bounds]] = [
    (1, (1, 1)),
    ("1", (1, 1)),
    ("1..", (1, None)),
    ("..1", (None, 1)),
    ("1 .. 3", (1, 3)),
    ({"min": 1, "max": 3}, (1, 3)),
]


@pytest.mark.parametrize(
    ("spec", "expected"), INT_RANGE_ROWS, ids=[_id("range", s) for s, _ in INT_RANGE_ROWS]
)
def test_int_range_conformance(spec: Any, expected: Bounds) -> None:
    assert _bounds(parse_int_range(spec)) == expected


INT_RANGE_ERROR_ROWS: list[tuple[Any, str]] = [
    ("..", "Invalid empty range: .."),
    ("1...3", "Could not convert '.3'"),
    ("3..1", "Invalid range order: 3..1"),
]


@pytest.mark.parametrize(
    ("spec", "message"),
    INT_RANGE_ERROR_ROWS,
    ids=[_id("range", s) for s, _ in INT_RANGE_ERROR_ROWS],
)
def test_int_range_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_int_range(spec)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "spec", ["1..2..3", "1.5", True, [1, 2], {"min": 1, "low": 0}], ids=lambda v: _id("range", v)
)
def test_int_range_more_errors(spec: Any) -> None:
    with pytest.raises(GrammarError):
        parse_int_range(spec)


@pytest.mark.parametrize(
    ("r", "text"),
    [
        (Range(1, 2), "1..2"),
        (Range(1, 1), "1"),
        (Range(None, 8), "..8"),
        (Range(2, None), "2.."),
        (Range(0.5, 1024.0), "0.5..1024"),
    ],
    ids=str,
)
def test_range_str(r: Range[Any], text: str) -> None:
    assert str(r) == text
    assert r.to_dict() == {"min": r.min, "max": r.max}


def test_range_contains() -> None:
    assert Range(16.0, None).contains(16)
    assert Range(None, 80.0).contains(80)
    assert not Range(16.0, None).contains(15)
    assert not Range(None, 80.0).contains(100)


# --------------------------------------------------------------------------------------------
# §2.3 replicas (§1.3)
# --------------------------------------------------------------------------------------------

REPLICA_ROWS: list[tuple[Any, bool, Bounds | str]] = [
    ("0..4", False, "When you set `replicas` to a range, ensure to specify `scaling`."),
    ("0..4", True, (0, 4)),
    ("..4", True, (0, 4)),
    ("1..", True, "The maximum number of replicas is required"),
    (-1, False, "The minimum number of replicas must be greater than or equal to 0"),
    (2, True, "To use `scaling`, `replicas` must be set to a range."),
    (2, False, (2, 2)),
    ("2", False, (2, 2)),
    (None, False, (1, 1)),
    (None, True, "To use `scaling`, `replicas` must be set to a range."),
]


@pytest.mark.parametrize(
    ("spec", "has_scaling", "expected"),
    REPLICA_ROWS,
    ids=[_id("replicas", s) + ("+scaling" if sc else "") for s, sc, _ in REPLICA_ROWS],
)
def test_replicas_conformance(spec: Any, has_scaling: bool, expected: Bounds | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(GrammarError) as info:
            parse_replicas(spec, has_scaling)
        assert str(info.value) == expected
    else:
        assert _bounds(parse_replicas(spec, has_scaling)) == expected


def test_replicas_list_form_is_not_a_range() -> None:
    with pytest.raises(GrammarError):
        parse_replicas([{"count": 1}], has_scaling=False)


# --------------------------------------------------------------------------------------------
# §2.3 port (service), §1.3
# --------------------------------------------------------------------------------------------

PORT_ROWS: list[Any] = [
    8000,
    "8000",
    "80:8000",
    {"local_port": 80, "container_port": 8000},
    {"container_port": 8000},
]


@pytest.mark.parametrize("spec", PORT_ROWS, ids=[_id("port", s) for s in PORT_ROWS])
def test_service_port_conformance(spec: Any) -> None:
    assert parse_service_port(spec) == 8000


PORT_ERROR_ROWS: list[Any] = ["*:8000", 0, 70000, None, "http", True, "80:0", {"local_port": 80}]


@pytest.mark.parametrize("spec", PORT_ERROR_ROWS, ids=[_id("port", s) for s in PORT_ERROR_ROWS])
def test_service_port_errors(spec: Any) -> None:
    with pytest.raises(GrammarError):
        parse_service_port(spec)


MAPPING_ROWS: list[tuple[Any, int | None, int]] = [
    (8080, 8080, 8080),
    ("8080", 8080, 8080),
    ("80:8080", 80, 8080),
    ("*:8080", None, 8080),
]


@pytest.mark.parametrize(
    ("spec", "local", "container"),
    MAPPING_ROWS,
    ids=[_id("mapping", s) for s, _, _ in MAPPING_ROWS],
)
def test_port_mapping(spec: Any, local: int | None, container: int) -> None:
    mapping = parse_port_mapping(spec)
    assert (mapping.local_port, mapping.container_port) == (local, container)


# --------------------------------------------------------------------------------------------
# resources block
# --------------------------------------------------------------------------------------------


def test_resources_defaults() -> None:
    spec, warnings = parse_resources(None)
    assert warnings == []
    assert spec == ResourcesSpec()
    assert spec.cpu == CPUSpec(arch=None, count=Range(2, None))
    assert _bounds(spec.memory) == (8, None)
    assert spec.shm_size is None
    assert _bounds(spec.gpu.count) == (0, None)
    assert _bounds(spec.disk.size) == (100, None)
    assert parse_resources({})[0] == spec


def test_resources_gpu_count_defaults_to_one_once_a_property_is_given() -> None:
    spec, _ = parse_resources({"gpu": "A100"})
    assert _bounds(spec.gpu.count) == (1, None)
    spec, _ = parse_resources({"gpu": {"memory": "24GB.."}})
    assert _bounds(spec.gpu.count) == (1, None)


def test_resources_unknown_key_is_named() -> None:
    with pytest.raises(GrammarError) as info:
        parse_resources({"gpus": 1})
    assert "gpus" in str(info.value)
    assert info.value.loc == ("gpus",)


def test_resources_error_is_located() -> None:
    with pytest.raises(GrammarError) as info:
        parse_resources({"gpu": {"name": "A100", "count": ".."}})
    assert info.value.loc == ("gpu", "count")
    assert str(info.value) == "Invalid empty range: .."


def test_resources_carry_gpu_warnings() -> None:
    _, warnings = parse_resources({"gpu": "tpu-v3-8"})
    assert warnings == [TPU_PREFIX_WARNING]


def test_resources_to_dict() -> None:
    spec, _ = parse_resources({"gpu": "A100:80GB:2", "cpu": "arm:4.."})
    data = spec.to_dict()
    assert data["gpu"]["name"] == ["A100"]
    assert data["gpu"]["count"] == {"min": 2, "max": 2}
    assert data["cpu"] == {"arch": "arm", "count": {"min": 4, "max": None}}
    assert data["disk"] == {"size": {"min": 100.0, "max": None}}


# --------------------------------------------------------------------------------------------
# §1.6 env
# --------------------------------------------------------------------------------------------

ENVIRON = {"B": "from-cli", "HF_TOKEN": "hf_x"}

ENV_ROWS: list[tuple[Any, dict[str, str]]] = [
    (["A=1", "B", "C="], {"A": "1", "B": "from-cli", "C": ""}),
    (["URL=a=b=c"], {"URL": "a=b=c"}),  # only the first `=` splits
    ({"A": "1", "PORT": 8080}, {"A": "1", "PORT": "8080"}),
    ({"1A": "x"}, {"1A": "x"}),  # dict keys are not validated (dstack TODO)
    ([], {}),
    (None, {}),
]


@pytest.mark.parametrize(("spec", "expected"), ENV_ROWS, ids=[_id("env", s) for s, _ in ENV_ROWS])
def test_env_conformance(spec: Any, expected: dict[str, str]) -> None:
    assert parse_env(spec, ENVIRON) == expected


ENV_ERROR_ROWS: list[tuple[Any, str]] = [
    (["A=1", "A=2"], "Duplicate environment variable: A=2"),
    (["B", "B"], "Duplicate environment variable: B"),
    (["1A=x"], "Invalid environment variable '1A=x'"),
    (["A-B=1"], "Invalid environment variable 'A-B=1'"),
    (["A=line1\nline2"], "Invalid environment variable"),  # pydantic's regex has no DOTALL
    (["MISSING"], "Environment variable MISSING is not set"),
    ({"DEBUG": True}, "Invalid value for environment variable DEBUG"),
    ("A=1", "Invalid env"),
]


@pytest.mark.parametrize(
    ("spec", "message"), ENV_ERROR_ROWS, ids=[_id("env", s) for s, _ in ENV_ERROR_ROWS]
)
def test_env_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_env(spec, ENVIRON)
    assert str(info.value).startswith(message)


def test_env_error_is_located_at_the_item() -> None:
    with pytest.raises(GrammarError) as info:
        parse_env(["A=1", "A=2"], {})
    assert info.value.loc == (1,)


# --------------------------------------------------------------------------------------------
# §1.7 volumes
# --------------------------------------------------------------------------------------------

VOLUME_ROWS: list[tuple[Any, VolumeMount]] = [
    ("my-vol:/data", VolumeMount("my-vol", "/data")),
    (
        "/mnt/cache:/root/.cache",
        VolumeMount(None, "/root/.cache", instance_path="/mnt/cache", optional=False),
    ),
    ({"name": ["v1", "v2"], "path": "/data"}, VolumeMount(["v1", "v2"], "/data")),
    (
        {"instance_path": "/mnt", "path": "/m", "optional": True},
        VolumeMount(None, "/m", instance_path="/mnt", optional=True),
    ),
    ("my-vol:/path/./to///dir/", VolumeMount("my-vol", "/path/to/dir")),
]


@pytest.mark.parametrize(
    ("spec", "expected"), VOLUME_ROWS, ids=[_id("volume", s) for s, _ in VOLUME_ROWS]
)
def test_volume_conformance(spec: Any, expected: VolumeMount) -> None:
    mount = parse_volume(spec)
    assert mount == expected
    assert mount.is_instance == (expected.instance_path is not None)


VOLUME_ERROR_ROWS: list[tuple[Any, str]] = [
    ("my-vol", "invalid mount point format: my-vol"),
    ("a:/b:ro", "invalid mount point format: a:/b:ro"),
    ("my-vol:data", "path must be absolute: data"),
    ("vol:", "empty path"),
    ("vol:/a/../b", ".. are not allowed: /a/../b"),
    ("/host/../etc:/data", ".. are not allowed: /host/../etc"),
    ({"name": "v", "path": "/d", "optional": True}, "Extra inputs are not permitted"),
    ({"name": "v"}, "Field required"),
    ({"instance_path": "/a", "path": "/b", "optional": "yes"}, "Invalid optional"),
]


@pytest.mark.parametrize(
    ("spec", "message"), VOLUME_ERROR_ROWS, ids=[_id("volume", s) for s, _ in VOLUME_ERROR_ROWS]
)
def test_volume_errors(spec: Any, message: str) -> None:
    with pytest.raises(GrammarError) as info:
        parse_volume(spec)
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------------------------
# §1.8 durations
# --------------------------------------------------------------------------------------------

DURATION_ROWS: list[tuple[Any, int]] = [
    (90, 90),
    ("90", 90),
    (1.9, 1),  # truncated
    ("30s", 30),
    ("5m", 300),
    ("2h", 7200),
    ("2 h", 7200),
    ("1d", 86400),
    ("1w", 604800),
]


@pytest.mark.parametrize(
    ("spec", "seconds"), DURATION_ROWS, ids=[_id("duration", s) for s, _ in DURATION_ROWS]
)
def test_duration_conformance(spec: Any, seconds: int) -> None:
    assert parse_duration(spec) == seconds


DURATION_ERROR_ROWS: list[Any] = ["bogus", "2y", "h2", "", "1.5h", True]


@pytest.mark.parametrize(
    "spec", DURATION_ERROR_ROWS, ids=[_id("duration", s) for s in DURATION_ERROR_ROWS]
)
def test_duration_errors(spec: Any) -> None:
    with pytest.raises(GrammarError) as info:
        parse_duration(spec)
    assert str(info.value) == f"Cannot parse the duration {spec!r}"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("off", "off"), (False, "off"), (True, None), (None, None), ("1h", 3600), (0, 0)],
    ids=["off", "false", "true", "null", "1h", "0"],
)
def test_off_duration(spec: Any, expected: int | str | None) -> None:
    assert parse_off_duration(spec) == expected


def test_off_duration_rejects_negative() -> None:
    with pytest.raises(GrammarError, match="Duration cannot be negative"):
        parse_off_duration(-1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("off", -1), (False, -1), (-1, -1), (True, None), (None, None), ("5m", 300)],
    ids=["off", "false", "-1", "true", "null", "5m"],
)
def test_idle_duration(spec: Any, expected: int | None) -> None:
    assert parse_idle_duration(spec) == expected
