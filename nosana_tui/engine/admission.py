"""Admission: whether this node's GPUs can run a job, decided before anything of it starts.

What a job asks for lives in ``meta.system_requirements`` (the network's node does not enforce it:
it is a hint for markets; we refuse up front rather than let a model fail to load half-way):

- ``required_vram``: GB of VRAM on one GPU (the key the dashboard reads);
- ``vram_total_mb``: MB of VRAM on one GPU (the key the templates use since 2026);
- the flat GPU keys a converted dstack service carries (``jobformat/dstack/convert.py``; flat
  because the network's ``Meta`` takes nothing deeper): ``gpu_count_min``/``gpu_count_max``,
  ``gpu_memory_gb_min``/``_max`` (per GPU), ``gpu_total_memory_gb_min``/``_max`` (over the GPUs
  taken), ``gpu_names`` (an array: any of them), ``gpu_vendor`` and ``gpu_compute_capability``
  (``"8.0"``, a minimum). A missing bound is an open one. Without ``gpu_count_min`` (or with 0)
  a GPU is optional, as dstack's ``gpu: 0..1``: the other keys then need nothing unless a VRAM
  key is given, and that needs one GPU.

Sizes are binary, as dstack and the templates write them (``6144`` MB is 6 GB). Cards report less
memory than they are sold with, so a GPU meets a lower bound when it reports at least 90 % of it:
an "80 GB" H100 reports 81,559 MiB (99.6 %), a "24 GB" A10G or L4 about 23,030 MiB (93.7 %), a
"16 GB" T4 15,360 MiB (93.8 %). An upper bound is checked against what the card reports, so a
dstack size given as one value (``24GB``, meaning that size) admits the card sold as it. A count
range takes the smallest count that fits, as dstack does; the GPUs taken are the largest that
match.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from nosana_tui.api.models import GpuDevice
from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.plan import required_vram_gb

TOLERANCE = 0.9
MIB_PER_GB = 1024


@dataclass(frozen=True)
class GpuNeed:
    """What a job needs of a node's GPUs (all sizes in MiB)."""

    count: int = 1
    count_max: int | None = None
    memory_mib: float | None = None  # per GPU, at least
    memory_max_mib: float | None = None  # per GPU, at most (dstack ranges may cap it)
    total_mib: float | None = None  # over the GPUs taken
    total_max_mib: float | None = None
    names: tuple[str, ...] = ()
    vendor: str | None = None
    compute_capability: tuple[int, int] | None = None

    def describe(self) -> str:
        if self.count_max is None or self.count_max == self.count:
            count = str(self.count)
        else:
            count = f"{self.count}..{self.count_max}"
        text = f"{count} GPU{'' if count == '1' else 's'}"
        if self.names:
            text += f" ({' or '.join(self.names)})"
        if self.memory_mib is not None:
            text += f" with at least {_gb(self.memory_mib)} VRAM"
            if self.count != 1:
                text += " each"
        if self.total_mib is not None:
            text += f", {_gb(self.total_mib)} in all"
        if self.compute_capability is not None:
            text += f", compute capability {'.'.join(map(str, self.compute_capability))}+"
        return text


@dataclass(frozen=True)
class Admission:
    ok: bool
    message: str = ""  # a refusal: what the job needs and what the node has
    need: GpuNeed | None = None
    gpus: tuple[int, ...] = ()  # the indexes that satisfy the need (the smallest fitting count)


def gpu_need(job: m.JobDefinition) -> GpuNeed | None:
    """The job's GPU need, or None when it states none."""
    meta = job.meta or {}
    requirements = meta.get("system_requirements")
    spec: dict[str, Any] = requirements if isinstance(requirements, dict) else {}
    vram_gb = required_vram_gb(job)
    if not any(key.startswith("gpu_") for key in spec):
        if vram_gb is None:
            return None
        return GpuNeed(memory_mib=vram_gb * MIB_PER_GB)
    count_min, count_max = _range(spec, "gpu_count")
    if count_min is None or count_min < 1:
        if vram_gb is None:
            return None  # dstack's optional GPU (count 0..n): nothing to refuse
        count_min = 1
    mem_min, mem_max = _range(spec, "gpu_memory_gb")
    total_min, total_max = _range(spec, "gpu_total_memory_gb")
    if vram_gb is not None:
        mem_min = max(mem_min or 0.0, vram_gb)
    names = spec.get("gpu_names")
    if isinstance(names, str):
        names = [names]
    vendor = spec.get("gpu_vendor")
    return GpuNeed(
        count=int(count_min),
        count_max=None if count_max is None else int(count_max),
        memory_mib=None if mem_min is None else mem_min * MIB_PER_GB,
        memory_max_mib=None if mem_max is None else mem_max * MIB_PER_GB,
        total_mib=None if total_min is None else total_min * MIB_PER_GB,
        total_max_mib=None if total_max is None else total_max * MIB_PER_GB,
        names=tuple(str(n) for n in names) if isinstance(names, list) else (),
        vendor=str(vendor).lower() if isinstance(vendor, str) else None,
        compute_capability=_capability(spec.get("gpu_compute_capability")),
    )


def admit(job: m.JobDefinition, gpus: list[GpuDevice], *, note: str = "") -> Admission:
    """Whether ``gpus`` (what the agent may use) meet the job's need; ``note`` says why a node
    has none (for the message)."""
    need = gpu_need(job)
    if need is None:
        return Admission(True)
    if need.vendor is not None and need.vendor != "nvidia":
        return _refuse(need, gpus, note, f"this node runs NVIDIA GPUs only ({need.vendor} asked)")
    matching = sorted(
        (g for g in gpus if _fits(need, g)), key=lambda g: g.memory_total_mb, reverse=True
    )
    top = len(matching) if need.count_max is None else min(need.count_max, len(matching))
    for count in range(need.count, top + 1):
        taken = matching[:count]
        total = sum(g.memory_total_mb for g in taken)
        if need.total_mib is not None and total < need.total_mib * TOLERANCE:
            continue
        if need.total_max_mib is not None and total > need.total_max_mib:
            break
        return Admission(True, need=need, gpus=tuple(g.index for g in taken))
    return _refuse(need, gpus, note)


def _refuse(need: GpuNeed, gpus: list[GpuDevice], note: str, why: str = "") -> Admission:
    if gpus:
        have = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}: " + ", ".join(
            f"#{g.index} {g.name} ({_memory(g)})" for g in gpus
        )
    else:
        have = "no GPU" + (f" ({note})" if note else "")
    message = f"the job needs {need.describe()}; this node has {have}"
    if why:
        message += f"; {why}"
    return Admission(False, message + ". Nothing was started.", need=need)


def _fits(need: GpuNeed, gpu: GpuDevice) -> bool:
    if need.names and not any(_name_matches(n, gpu.name) for n in need.names):
        return False
    if need.memory_mib is not None and gpu.memory_total_mb < need.memory_mib * TOLERANCE:
        return False
    if need.memory_max_mib is not None and gpu.memory_total_mb > need.memory_max_mib:
        return False
    if need.compute_capability is not None:
        have = _capability(gpu.compute_capability)
        if have is not None and have < need.compute_capability:
            return False  # (unknown: the source did not say; not a reason to refuse)
    return True


def _name_matches(wanted: str, device: str) -> bool:
    """``H100`` matches "NVIDIA H100 80GB HBM3", ``RTX4090`` "NVIDIA GeForce RTX 4090", but
    ``A10`` does not match "NVIDIA A100-SXM4-80GB": whole words, or two adjacent words joined."""
    key = re.sub(r"[^a-z0-9]", "", wanted.lower())
    words = [w for w in re.split(r"[^a-z0-9]+", device.lower()) if w]
    candidates = set(words) | {a + b for a, b in itertools.pairwise(words)}
    return key in candidates


def _range(spec: dict[str, Any], key: str) -> tuple[float | None, float | None]:
    """``key_min`` and ``key_max``; a missing or non-numeric end is open."""
    return _number(spec.get(f"{key}_min")), _number(spec.get(f"{key}_max"))


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _capability(value: Any) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", str(value)) if value not in (None, "") else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def _memory(gpu: GpuDevice) -> str:
    """Its memory; a unified-memory GPU (GB10) reports none, so no memory need can be met."""
    return _gb(gpu.memory_total_mb) if gpu.memory_total_mb else "memory not reported"


def _gb(mib: float) -> str:
    return f"{mib / MIB_PER_GB:.1f} GiB".replace(".0 GiB", " GiB")
