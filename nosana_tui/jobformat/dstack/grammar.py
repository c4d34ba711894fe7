"""dstack's value grammars, re-implemented: ranges, memory sizes, ``cpu``/``gpu``/``disk``
resource specs, durations, service ports, replicas, ``env`` and ``volumes``.

The behaviour follows the conformance tables in ``reference/dstack.md`` (§1.3, §1.6-§1.8, §2).
Pure functions over plain values (what a YAML loader returns); no pydantic, no I/O, no dstack.
Every failure is a :class:`GrammarError` whose text is dstack's own message where one is known,
so that people moving from dstack see the words they already know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

__all__ = [
    "AMD_GPUS",
    "CPU_ARCHITECTURES",
    "DEFAULT_CPU_COUNT",
    "DEFAULT_DISK_SIZE",
    "DEFAULT_GPU_COUNT",
    "DEFAULT_MEMORY",
    "DEFAULT_RESOURCES_GPU_COUNT",
    "GPU_VENDORS",
    "INTEL_GPUS",
    "NVIDIA_GPUS",
    "TENSTORRENT_GPUS",
    "TPU_VERSIONS",
    "CPUSpec",
    "DiskSpec",
    "GPUSpec",
    "GrammarError",
    "PortMapping",
    "Range",
    "ResourcesSpec",
    "VolumeMount",
    "gpu_vendors_of_name",
    "infer_gpu_vendor",
    "nvidia_compute_capability",
    "parse_compute_capability",
    "parse_cpu",
    "parse_disk",
    "parse_duration",
    "parse_env",
    "parse_gpu",
    "parse_idle_duration",
    "parse_int_range",
    "parse_memory",
    "parse_memory_range",
    "parse_off_duration",
    "parse_port_mapping",
    "parse_replicas",
    "parse_resources",
    "parse_service_port",
    "parse_volume",
    "pretty_gpu",
    "pretty_memory",
    "pretty_resources",
]

Number = int | float
N = TypeVar("N", int, float)
Loc = tuple[str | int, ...]


class GrammarError(ValueError):
    """A value that dstack's grammar rejects.

    ``str(e)`` is the message alone; ``loc`` is the path of the offending field below the value
    that was parsed (``("gpu",)`` inside ``resources``), for callers that build diagnostics.
    """

    def __init__(self, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.message = message
        self.loc: Loc = loc

    def __str__(self) -> str:
        return self.message

    def within(self, *prefix: str | int) -> GrammarError:
        """The same error, located under ``prefix``."""
        return GrammarError(self.message, (*prefix, *self.loc))


def _is_bool(value: object) -> bool:
    # bool is an int subclass; YAML `true` must not silently become 1 GPU / 1 second.
    return isinstance(value, bool)


def _check_keys(value: Mapping[Any, Any], allowed: Iterable[str]) -> None:
    """dstack models are ``extra="forbid"``: an unknown key is an error that names the key."""
    allowed_set = set(allowed)
    for key in value:
        if key not in allowed_set:
            raise GrammarError(f"Extra inputs are not permitted: {key!r}", (str(key),))


def _fmt_number(value: Number) -> str:
    # ints print as-is; floats without the trailing ".0" (0.5, 1024), as dstack's `{x:g}` does.
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# --------------------------------------------------------------------------------------------
# Range and Memory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range(Generic[N]):
    """``min..max`` with either end open (``None``); both ends inclusive."""

    min: N | None
    max: N | None

    def __str__(self) -> str:
        return self.pretty()

    def pretty(self, unit: str = "") -> str:
        """``a..b``, ``a`` when both ends are equal, ``..b``, ``a..``; ``unit`` follows each end."""
        lo = "" if self.min is None else _fmt_number(self.min) + unit
        hi = "" if self.max is None else _fmt_number(self.max) + unit
        if lo == hi:
            return lo
        return f"{lo}..{hi}"

    def to_dict(self) -> dict[str, N | None]:
        return {"min": self.min, "max": self.max}

    def contains(self, value: Number) -> bool:
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)


def _parse_range(value: Any, convert: Callable[[Any], N]) -> Range[N]:
    """dstack's ``Range._parse`` + ``_post_validate`` with ``convert`` for each end."""
    lo: Any
    hi: Any
    if _is_bool(value):
        raise GrammarError(f"Invalid range: {value!r}")
    if isinstance(value, str) and ".." in value:
        parts = value.replace(" ", "").split("..")
        if len(parts) != 2:
            raise GrammarError(f"Invalid range: {value}")
        lo, hi = parts[0] or None, parts[1] or None
    elif isinstance(value, str | int | float):
        lo = hi = value
    elif isinstance(value, Mapping):
        _check_keys(value, ("min", "max"))
        # A missing end is open, as with dstack's `{min: 1}` for cpu (T).
        lo, hi = value.get("min"), value.get("max")
    elif isinstance(value, Range):
        lo, hi = value.min, value.max
    else:
        raise GrammarError(f"Invalid range: {value!r}")
    try:
        lo_v = None if lo is None else convert(lo)
        hi_v = None if hi is None else convert(hi)
    except GrammarError as e:
        if lo is hi:  # a single value: the message already quotes all of it
            raise
        raise GrammarError(f"{e.message} (in range {value!r})", e.loc) from None
    if lo_v is None and hi_v is None:
        raise GrammarError("Invalid empty range: ..")
    if lo_v is not None and hi_v is not None and lo_v > hi_v:
        raise GrammarError(f"Invalid range order: {_fmt_number(lo_v)}..{_fmt_number(hi_v)}")
    return Range(lo_v, hi_v)


_INT_RE = re.compile(r"[+-]?\d+")


def _to_int(value: Any) -> int:
    """pydantic v2 lax int: ints, integral floats and integer strings."""
    if _is_bool(value):
        raise GrammarError(f"Could not convert {value!r} to an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value.strip())
    raise GrammarError(f"Could not convert {value!r} to an integer")


def parse_int_range(value: Any) -> Range[int]:
    """``Range[int]``: ``1``, ``"1"``, ``"1.."``, ``"..1"``, ``"1 .. 3"``, ``{min: 1, max: 3}``."""
    return _parse_range(value, _to_int)


_MEMORY_UNITS: tuple[tuple[str, float], ...] = (("tb", 1024.0), ("gb", 1.0), ("mb", 1 / 1024))


def parse_memory(value: Any) -> float:
    """A size in GB: ``MB`` / 1024, ``GB`` as is, ``TB`` * 1024, a bare number is GB.

    Spaces are dropped and case ignored (``16 Gb``); binary units (``GiB``) are not dstack's.
    """
    if _is_bool(value):
        raise GrammarError(f"Could not convert {value!r} to memory")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        text = value.replace(" ", "").lower()
        factor = 1.0
        for suffix, unit_factor in _MEMORY_UNITS:
            if text.endswith(suffix):
                text, factor = text[: -len(suffix)], unit_factor
                break
        try:
            result = float(text) * factor
        except ValueError:
            raise GrammarError(f"Could not convert {value!r} to memory") from None
    else:
        raise GrammarError(f"Could not convert {value!r} to memory")
    # float() takes "inf"/"nan"; no size can be either, and they break range ordering.
    if not math.isfinite(result):
        raise GrammarError(f"Could not convert {value!r} to memory")
    return result


def parse_memory_range(value: Any) -> Range[float]:
    """``Range[Memory]``: ``8GB``, ``8GB..``, ``..64GB``, ``512..1 TB``, ``{min: 512MB, max: 1TB}``."""
    return _parse_range(value, parse_memory)


def pretty_memory(value: Range[float] | float) -> str:
    """``80GB``, ``24GB..40GB``, ``8GB..``."""
    if isinstance(value, Range):
        return value.pretty("GB")
    return f"{value:g}GB"


# --------------------------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------------------------

CPU_ARCHITECTURES = ("x86", "arm")
DEFAULT_CPU_COUNT: Range[int] = Range(2, None)


@dataclass(frozen=True)
class CPUSpec:
    arch: str | None = None
    count: Range[int] = DEFAULT_CPU_COUNT

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch, "count": self.count.to_dict()}


def _cpu_arch(value: Any) -> str:
    if isinstance(value, str) and value.lower() in CPU_ARCHITECTURES:
        return value.lower()
    raise GrammarError(f"Invalid CPU architecture: {value}")


def parse_cpu(value: Any) -> CPUSpec:
    """``cpu``: ``4``, ``4..``, ``x86:2``, ``2..:ARM``, ``{min, max}``, ``{arch, count}``."""
    if _is_bool(value):
        raise GrammarError(f"Invalid CPU spec: {value!r}")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        arch: str | None = None
        count: str | None = None
        for token in value.replace(" ", "").split(":"):
            if not token:
                raise GrammarError(f"CPU spec contains empty token: {value}")
            if ".." in token or token.isdigit():
                if count is not None:
                    raise GrammarError(f"CPU spec count conflict: {value}")
                count = token
            else:
                # The architecture is checked before the conflict, as in dstack: `arm:4GB`
                # reports the bad token, not a conflict.
                if token.lower() not in CPU_ARCHITECTURES:
                    raise GrammarError(f"Invalid CPU architecture: {value}")
                if arch is not None:
                    raise GrammarError(f"CPU spec arch conflict: {value}")
                arch = token.lower()
        return CPUSpec(
            arch=arch,
            count=DEFAULT_CPU_COUNT if count is None else parse_int_range(count),
        )
    if isinstance(value, Mapping):
        # A bare `{min, max}` (either may be missing) is the count, kept for dstack < 0.19.
        if value and set(value) <= {"min", "max"}:
            return CPUSpec(count=parse_int_range(value))
        _check_keys(value, ("arch", "count"))
        arch_v = value.get("arch")
        count_v = value.get("count")
        try:
            arch_p = None if arch_v is None else _cpu_arch(arch_v)
        except GrammarError as e:
            raise e.within("arch") from None
        try:
            count_p = DEFAULT_CPU_COUNT if count_v is None else parse_int_range(count_v)
        except GrammarError as e:
            raise e.within("count") from None
        return CPUSpec(arch=arch_p, count=count_p)
    if isinstance(value, Range):
        return CPUSpec(count=parse_int_range(value))
    raise GrammarError(f"Invalid CPU spec: {value!r}")


# --------------------------------------------------------------------------------------------
# GPU
# --------------------------------------------------------------------------------------------

GPU_VENDORS = ("nvidia", "amd", "google", "intel", "tenstorrent")
_VENDOR_ALIASES = {"tpu": "google", "tt": "tenstorrent"}
DEFAULT_GPU_COUNT: Range[int] = Range(1, None)
"""The count once any GPU property is given (``gpu: A100`` means at least one, dstack >= 0.19)."""
DEFAULT_RESOURCES_GPU_COUNT: Range[int] = Range(0, None)
"""The count when ``gpu`` is omitted: a GPU is optional."""

TPU_PREFIX_WARNING = "`tpu-` prefix is deprecated, specify gpu_vendor instead"

# Known accelerator names per vendor (gpuhunt's catalogues plus newer parts), used only to infer a
# vendor the user did not write. NVIDIA entries carry the compute capability, which dstack reads
# from the same catalogue to match `compute_capability`.
NVIDIA_GPUS: dict[str, tuple[int, int]] = {
    "A10": (8, 6),
    "A10G": (8, 6),
    "A16": (8, 6),
    "A40": (8, 6),
    "A100": (8, 0),
    "A4000": (8, 6),
    "A4500": (8, 6),
    "A5000": (8, 6),
    "A6000": (8, 6),
    "RTXA6000": (8, 6),
    "H100": (9, 0),
    "H100NVL": (9, 0),
    "H200": (9, 0),
    "GH200": (9, 0),
    "B200": (10, 0),
    "GB200": (10, 0),
    "L4": (8, 9),
    "L40": (8, 9),
    "L40S": (8, 9),
    "P100": (6, 0),
    "T4": (7, 5),
    "V100": (7, 0),
    "RTX3060": (8, 6),
    "RTX3060Ti": (8, 6),
    "RTX3070Ti": (8, 6),
    "RTX3080": (8, 6),
    "RTX3080Ti": (8, 6),
    "RTX3090": (8, 6),
    "RTX4090": (8, 9),
    "RTX5090": (12, 0),
    "RTX6000": (7, 5),
    "RTX2000Ada": (8, 9),
    "RTX4000Ada": (8, 9),
    "RTX6000Ada": (8, 9),
}
AMD_GPUS = ("MI100", "MI210", "MI250", "MI250X", "MI300A", "MI300X", "MI308X", "MI325X", "MI355X")
INTEL_GPUS = ("Gaudi", "Gaudi2", "Gaudi3")
TENSTORRENT_GPUS = ("n150", "n300", "p100a", "p150a", "p150b")
TPU_VERSIONS = ("v2", "v3", "v4", "v5p", "v5litepod", "v6e")

_NAMES_BY_VENDOR: dict[str, frozenset[str]] = {
    "nvidia": frozenset(n.lower() for n in NVIDIA_GPUS),
    "amd": frozenset(n.lower() for n in AMD_GPUS),
    "intel": frozenset(n.lower() for n in INTEL_GPUS),
    "tenstorrent": frozenset(n.lower() for n in TENSTORRENT_GPUS),
}
_NVIDIA_CC_LOWER = {name.lower(): cc for name, cc in NVIDIA_GPUS.items()}


@dataclass
class GPUSpec:
    vendor: str | None = None
    names: list[str] | None = None
    count: Range[int] = DEFAULT_GPU_COUNT
    memory: Range[float] | None = None
    total_memory: Range[float] | None = None
    compute_capability: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "name": None if self.names is None else list(self.names),
            "count": self.count.to_dict(),
            "memory": None if self.memory is None else self.memory.to_dict(),
            "total_memory": None if self.total_memory is None else self.total_memory.to_dict(),
            "compute_capability": (
                None if self.compute_capability is None else list(self.compute_capability)
            ),
        }


def _vendor_from_string(token: str) -> str | None:
    lowered = token.lower()
    lowered = _VENDOR_ALIASES.get(lowered, lowered)
    return lowered if lowered in GPU_VENDORS else None


def parse_compute_capability(value: Any) -> tuple[int, int]:
    """``"9.0"``, ``8.6`` or ``[9, 0]`` -> ``(9, 0)``."""
    parts: Any = value
    if isinstance(value, float):
        parts = str(value)
    if isinstance(parts, str):
        parts = parts.strip().split(".")
    if isinstance(parts, list | tuple) and len(parts) == 2 and not any(map(_is_bool, parts)):
        try:
            return int(parts[0]), int(parts[1])
        except (TypeError, ValueError):
            pass
    raise GrammarError(f"Invalid compute capability: {value}")


def _strip_tpu_prefix(names: list[str], warnings: list[str]) -> list[str]:
    # Case-sensitive, as in dstack's validator.
    if any(n.startswith("tpu-") for n in names):
        warnings.append(TPU_PREFIX_WARNING)
        return [n[4:] if n.startswith("tpu-") else n for n in names]
    return names


def _gpu_names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        # YAML may hand over `4090` as an int; dstack coerces numbers to strings.
        if isinstance(item, int | float) and not _is_bool(item):
            item = str(item)
        if not isinstance(item, str):
            raise GrammarError(f"Invalid GPU name: {item!r}")
        if not item:
            raise GrammarError(f"GPU name can not be empty: {value!r}")
        names.append(item)
    return names


def _parse_gpu_string(value: str, warnings: list[str]) -> GPUSpec:
    vendor: str | None = None
    names: list[str] | None = None
    memory: str | None = None
    count: str | None = None
    for token in value.replace(" ", "").split(":"):
        if not token:
            raise GrammarError(f"GPU spec contains empty token: {value}")
        token_vendor = _vendor_from_string(token)
        if token_vendor is not None:
            if vendor is not None:
                raise GrammarError(f"GPU spec vendor conflict: {value}")
            vendor = token_vendor
        elif token[0].isalpha():  # a GPU name always starts with a letter; `4090` is a count
            if names is not None:
                raise GrammarError(f"GPU spec name conflict: {value}")
            names = token.split(",")
            if any(not name for name in names):
                raise GrammarError(f"GPU name can not be empty: {value}")
        elif any(c.isalpha() for c in token):  # memory must carry a unit
            if memory is not None:
                raise GrammarError(f"GPU spec memory conflict: {value}")
            memory = token
        else:
            if count is not None:
                raise GrammarError(f"GPU spec count conflict: {value}")
            count = token
    return GPUSpec(
        vendor=vendor,
        names=None if names is None else _strip_tpu_prefix(names, warnings),
        count=DEFAULT_GPU_COUNT if count is None else parse_int_range(count),
        memory=None if memory is None else parse_memory_range(memory),
    )


def _parse_gpu_mapping(value: Mapping[Any, Any], warnings: list[str]) -> GPUSpec:
    _check_keys(value, ("vendor", "name", "count", "memory", "total_memory", "compute_capability"))

    def field_of(key: str, parse: Callable[[Any], Any]) -> Any:
        raw = value.get(key)
        if raw is None:
            return None
        try:
            return parse(raw)
        except GrammarError as e:
            raise e.within(key) from None

    def vendor_of(raw: Any) -> str:
        vendor = _vendor_from_string(raw) if isinstance(raw, str) else None
        if vendor is None:
            raise GrammarError(f"Invalid GPU vendor: {raw}")
        return vendor

    names = field_of("name", _gpu_names)
    count = field_of("count", parse_int_range)
    return GPUSpec(
        vendor=field_of("vendor", vendor_of),
        names=None if names is None else _strip_tpu_prefix(names, warnings),
        count=DEFAULT_GPU_COUNT if count is None else count,
        memory=field_of("memory", parse_memory_range),
        total_memory=field_of("total_memory", parse_memory_range),
        compute_capability=field_of("compute_capability", parse_compute_capability),
    )


def parse_gpu(value: Any) -> tuple[GPUSpec, list[str]]:
    """``gpu``: ``<vendor>:<names>:<memory range>:<count range>``, any part optional, any order;
    an int (a count) or a mapping. Returns the spec and deprecation warnings."""
    warnings: list[str] = []
    if _is_bool(value):
        raise GrammarError(f"Invalid GPU spec: {value!r}")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        return _parse_gpu_string(value, warnings), warnings
    if isinstance(value, Mapping):
        return _parse_gpu_mapping(value, warnings), warnings
    raise GrammarError(f"Invalid GPU spec: {value!r}")


def nvidia_compute_capability(name: str) -> tuple[int, int] | None:
    """The compute capability of a known NVIDIA GPU, ignoring case; ``None`` when unknown."""
    return _NVIDIA_CC_LOWER.get(name.lower())


def gpu_vendors_of_name(name: str) -> set[str]:
    """Every vendor with a product of this name (ignoring case); empty when the name is unknown.

    TPUs are ``<version>-<cores>`` (``v5p-1024``, ``v5litepod-8``).
    """
    lowered = name.lower()
    vendors = {vendor for vendor, names in _NAMES_BY_VENDOR.items() if lowered in names}
    version, _, cores = lowered.partition("-")
    if cores.isdigit() and version in TPU_VERSIONS:
        vendors.add("google")
    return vendors


def infer_gpu_vendor(spec: GPUSpec, default_image: bool) -> str | None:
    """The vendor dstack's server settles on before matching offers.

    A vendor the user wrote is kept. With count max 0 nothing is inferred. With no names it is
    NVIDIA, but only for dstack's own (CUDA) image. With names it is the one vendor all of them
    belong to; an unknown name or a mix of vendors leaves it ``None`` (match by name only).
    ``default_image`` is true when neither ``image`` nor ``docker`` is set.
    """
    if spec.vendor is not None:
        return spec.vendor
    if spec.count.max == 0:
        return None
    if not spec.names:
        return "nvidia" if default_image else None
    found: set[str | None] = set()
    for name in spec.names:
        vendors = gpu_vendors_of_name(name)
        found.add(next(iter(vendors)) if len(vendors) == 1 else None)
    if len(found) == 1:
        return next(iter(found))
    return None


def pretty_gpu(spec: GPUSpec) -> str:
    """As dstack prints it in plans: ``A100:80GB:2``, ``24GB..40GB:2``, ``nvidia:1``,
    ``A100:40GB:2:80GB`` (total memory last), ``1:8.0`` (compute capability last)."""
    parts: list[str] = []
    if spec.names:
        parts.append(",".join(spec.names))
    elif spec.vendor:
        parts.append(spec.vendor)
    if spec.memory is not None:
        parts.append(pretty_memory(spec.memory))
    parts.append(str(spec.count))
    if spec.total_memory is not None:
        parts.append(pretty_memory(spec.total_memory))
    if spec.compute_capability is not None:
        parts.append("{}.{}".format(*spec.compute_capability))
    return ":".join(parts)


# --------------------------------------------------------------------------------------------
# Disk and the resources block
# --------------------------------------------------------------------------------------------

DEFAULT_DISK_SIZE: Range[float] = Range(100.0, None)
DEFAULT_MEMORY: Range[float] = Range(8.0, None)


@dataclass(frozen=True)
class DiskSpec:
    size: Range[float] = DEFAULT_DISK_SIZE

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size.to_dict()}


def parse_disk(value: Any) -> DiskSpec:
    """``disk``: a size or range (``200GB..``), or ``{size: ...}``."""
    if _is_bool(value):
        raise GrammarError(f"Invalid disk spec: {value!r}")
    if isinstance(value, str | int | float):
        return DiskSpec(size=parse_memory_range(value))
    if isinstance(value, Mapping):
        _check_keys(value, ("size",))
        if value.get("size") is None:
            raise GrammarError("Field required", ("size",))
        try:
            return DiskSpec(size=parse_memory_range(value["size"]))
        except GrammarError as e:
            raise e.within("size") from None
    raise GrammarError(f"Invalid disk spec: {value!r}")


@dataclass
class ResourcesSpec:
    cpu: CPUSpec = field(default_factory=CPUSpec)
    memory: Range[float] = DEFAULT_MEMORY
    shm_size: float | None = None
    gpu: GPUSpec = field(default_factory=lambda: GPUSpec(count=DEFAULT_RESOURCES_GPU_COUNT))
    disk: DiskSpec = field(default_factory=DiskSpec)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu": self.cpu.to_dict(),
            "memory": self.memory.to_dict(),
            "shm_size": self.shm_size,
            "gpu": self.gpu.to_dict(),
            "disk": self.disk.to_dict(),
        }


def parse_resources(value: Mapping[str, Any] | None) -> tuple[ResourcesSpec, list[str]]:
    """The ``resources`` block, with dstack's defaults (``cpu=2.. mem=8GB.. disk=100GB..
    gpu=0..``). Unknown keys (``gpus``) are errors. A key set to null takes its default."""
    if value is None:
        return ResourcesSpec(), []
    if not isinstance(value, Mapping):
        raise GrammarError(f"Invalid resources spec: {value!r}")
    _check_keys(value, ("cpu", "memory", "shm_size", "gpu", "disk"))
    spec = ResourcesSpec()
    warnings: list[str] = []
    for key, raw in value.items():
        if raw is None:
            continue
        try:
            if key == "cpu":
                spec.cpu = parse_cpu(raw)
            elif key == "memory":
                spec.memory = parse_memory_range(raw)
            elif key == "shm_size":
                spec.shm_size = parse_memory(raw)  # a scalar, not a range
            elif key == "gpu":
                spec.gpu, warnings = parse_gpu(raw)
            else:
                spec.disk = parse_disk(raw)
        except GrammarError as e:
            raise e.within(key) from None
    return spec, warnings


def pretty_resources(spec: ResourcesSpec) -> str:
    """``cpu=2.. mem=8GB.. disk=100GB.. gpu=0..`` (dstack's plan column)."""
    arch = "arm:" if spec.cpu.arch == "arm" else ""  # dstack leaves x86 implicit
    parts = [
        f"cpu={arch}{spec.cpu.count}",
        f"mem={pretty_memory(spec.memory)}",
        f"disk={pretty_memory(spec.disk.size)}",
        f"gpu={pretty_gpu(spec.gpu)}",
    ]
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(?P<amount>\d+) *(?P<unit>[smhdw])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> int:
    """Seconds: ``90``, ``"90"``, ``30s``, ``5m``, ``2 h``, ``1d``, ``1w``; a float truncates."""
    if _is_bool(value):
        raise GrammarError(f"Cannot parse the duration {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise GrammarError(f"Cannot parse the duration {value!r}")
        return int(value)
    if isinstance(value, str):
        if _INT_RE.fullmatch(value.strip()):
            return int(value)
        match = _DURATION_RE.fullmatch(value)
        if match:
            return int(match["amount"]) * _DURATION_UNITS[match["unit"]]
    raise GrammarError(f"Cannot parse the duration {value!r}")


def parse_off_duration(value: Any) -> int | str | None:
    """Off-able fields (``max_duration``, ``stop_duration``): ``off``/``false`` -> ``"off"``,
    ``true``/null -> ``None`` (the default), otherwise non-negative seconds."""
    if value == "off" or value is False:
        return "off"
    if value is True or value is None:
        return None
    seconds = parse_duration(value)
    if seconds < 0:
        raise GrammarError("Duration cannot be negative")
    return seconds


def parse_idle_duration(value: Any) -> int | None:
    """``idle_duration``: ``off``/``false``/``-1`` -> ``-1``, ``true``/null -> ``None``."""
    if value == "off" or value is False or value == -1:
        return -1
    if value is True or value is None:
        return None
    return parse_duration(value)


# --------------------------------------------------------------------------------------------
# Ports and replicas
# --------------------------------------------------------------------------------------------

_PORT_MAPPING_RE = re.compile(r"(?:(\d+|\*):)?(\d+)")
_SERVICE_PORT_RE = re.compile(r"[0-9]+:[0-9]+")


@dataclass(frozen=True)
class PortMapping:
    """``local:container``; ``local_port`` ``None`` means any free local port (``*``)."""

    local_port: int | None
    container_port: int


def _valid_port(value: Any, what: str) -> int:
    if _is_bool(value):
        raise GrammarError(f"Invalid {what}: {value!r}")
    try:
        port = _to_int(value)
    except GrammarError:
        raise GrammarError(f"Invalid {what}: {value!r}") from None
    if not 1 <= port <= 65535:
        raise GrammarError(f"Invalid {what}: {port} is not between 1 and 65535")
    return port


def parse_port_mapping(value: Any) -> PortMapping:
    """A task / ``attach -p`` port: ``8080`` (same both sides), ``80:8080``, ``*:8080``."""
    if _is_bool(value):
        raise GrammarError(f"Invalid port mapping: {value!r}")
    if isinstance(value, int):
        port = _valid_port(value, "port")
        return PortMapping(port, port)
    if isinstance(value, str):
        match = _PORT_MAPPING_RE.fullmatch(value)
        if not match:
            raise GrammarError(f"Invalid port mapping: {value}")
        local, container = match.groups()
        container_port = _valid_port(container, "container port")
        if local is None:
            return PortMapping(container_port, container_port)
        local_port = None if local == "*" else _valid_port(local, "local port")
        return PortMapping(local_port, container_port)
    if isinstance(value, Mapping):
        _check_keys(value, ("local_port", "container_port"))
        if value.get("container_port") is None:
            raise GrammarError("Field required", ("container_port",))
        local_v = value.get("local_port")
        return PortMapping(
            None if local_v is None else _valid_port(local_v, "local port"),
            _valid_port(value["container_port"], "container port"),
        )
    raise GrammarError(f"Invalid port mapping: {value!r}")


def parse_service_port(value: Any) -> int:
    """A service ``port``; returns the container port. dstack stores an int N as ``80:N``, but
    the local part is never used.

    ``8000``, ``"8000"``, ``"80:8000"``, ``{local_port, container_port}``; unlike a task's
    ``ports``, ``*:8000`` is rejected.
    """
    if value is None:
        raise GrammarError("Field required")
    if _is_bool(value):
        raise GrammarError(f"Invalid port: {value!r}")
    if isinstance(value, int | float):
        return _valid_port(value, "port")
    if isinstance(value, str):
        if _SERVICE_PORT_RE.fullmatch(value):
            return parse_port_mapping(value).container_port
        if _INT_RE.fullmatch(value.strip()):
            return _valid_port(value, "port")
        raise GrammarError(f"Invalid port: {value!r} (expected PORT or LOCAL_PORT:PORT)")
    if isinstance(value, Mapping):
        return parse_port_mapping(value).container_port
    raise GrammarError(f"Invalid port: {value!r}")


def parse_replicas(value: Any, has_scaling: bool) -> Range[int]:
    """A service's ``replicas`` as a count range (null means 1).

    The max is required, a missing min is 0, min must be >= 0, a range needs ``scaling`` and
    ``scaling`` needs a range. The legacy list-of-groups form is not a range; callers handle it.
    """
    if isinstance(value, list):
        raise GrammarError("`replicas` as a list of groups is not a count range")
    replicas = Range(1, 1) if value is None else parse_int_range(value)
    if replicas.max is None:
        raise GrammarError("The maximum number of replicas is required")
    low = 0 if replicas.min is None else replicas.min  # `..4` means 0..4 (scale to zero)
    if low < 0:
        raise GrammarError("The minimum number of replicas must be greater than or equal to 0")
    if low != replicas.max and not has_scaling:
        raise GrammarError("When you set `replicas` to a range, ensure to specify `scaling`.")
    if low == replicas.max and has_scaling:
        raise GrammarError("To use `scaling`, `replicas` must be set to a range.")
    return Range(low, replicas.max)


# --------------------------------------------------------------------------------------------
# env
# --------------------------------------------------------------------------------------------

# `\Z` and no DOTALL, like pydantic's Rust regex: a multi-line value is not valid in list form.
_ENV_ITEM_RE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)(=.*\Z|\Z)")


def _env_value(key: str, value: Any) -> str:
    # dstack coerces numbers to strings; booleans and nulls are not strings.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not _is_bool(value):
        return str(value)
    raise GrammarError(f"Invalid value for environment variable {key}: {value!r}", (key,))


def parse_env(value: Any, environ: Mapping[str, str]) -> dict[str, str]:
    """``env`` as a list (``KEY=VALUE``, ``KEY=``, ``KEY``) or a mapping.

    A bare ``KEY`` takes its value from ``environ`` (the CLI's environment with ``-e`` applied).
    Dict keys are not validated, as in dstack.
    """
    if value is None:
        return {}
    result: dict[str, str] = {}
    if isinstance(value, list):
        for index, item in enumerate(value):
            text = str(item) if isinstance(item, int | float) and not _is_bool(item) else item
            if not isinstance(text, str) or not _ENV_ITEM_RE.match(text):
                raise GrammarError(
                    f"Invalid environment variable {item!r}: expected KEY, KEY= or KEY=VALUE"
                    " with KEY matching [a-zA-Z_][a-zA-Z0-9_]*",
                    (index,),
                )
            key, sep, val = text.partition("=")
            if key in result:
                raise GrammarError(f"Duplicate environment variable: {text}", (index,))
            if not sep:
                if key not in environ:
                    raise GrammarError(f"Environment variable {key} is not set", (index,))
                val = environ[key]
            result[key] = val
        return result
    if isinstance(value, Mapping):
        for key, val in value.items():
            if _is_bool(key) or not isinstance(key, str | int):
                raise GrammarError(f"Invalid environment variable name: {key!r}")
            result[str(key)] = _env_value(str(key), val)
        return result
    raise GrammarError(f"Invalid env: {value!r} (expected a list or a mapping)")


# --------------------------------------------------------------------------------------------
# volumes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeMount:
    """A network volume (``name`` set) or an instance path (``instance_path`` set)."""

    name: str | list[str] | None
    path: str
    instance_path: str | None = None
    optional: bool = False

    @property
    def is_instance(self) -> bool:
        return self.instance_path is not None


def _mount_path(path: Any) -> str:
    if not isinstance(path, str):
        raise GrammarError(f"Invalid path: {path!r}")
    if not path:
        raise GrammarError("empty path")
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        raise GrammarError(f"path must be absolute: {path}")
    if ".." in pure.parts:
        raise GrammarError(f".. are not allowed: {path}")
    return str(pure)  # normalised: `/path/./to///dir/` -> `/path/to/dir`


def _volume_name(value: Any) -> str | list[str]:
    # dstack accepts an empty name; it can never match a volume, so it is rejected here.
    if isinstance(value, str) and value:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise GrammarError(f"Invalid volume name: {value!r}", ("name",))


def parse_volume(value: Any) -> VolumeMount:
    """A ``volumes`` item: ``name:/path``, ``/instance/path:/path`` (a ``/`` in the source means
    an instance path), ``{name, path}`` (name may be a list) or ``{instance_path, path,
    optional}``."""
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            raise GrammarError(f"invalid mount point format: {value}")
        src, dest = parts
        if "/" in src:
            return VolumeMount(None, _mount_path(dest), instance_path=_mount_path(src))
        return VolumeMount(_volume_name(src), _mount_path(dest))
    if isinstance(value, Mapping):
        is_instance = "instance_path" in value
        _check_keys(
            value, ("instance_path", "path", "optional") if is_instance else ("name", "path")
        )
        if "path" not in value:
            raise GrammarError("Field required", ("path",))
        try:
            path = _mount_path(value["path"])
        except GrammarError as e:
            raise e.within("path") from None
        if not is_instance:
            if "name" not in value:
                raise GrammarError("Field required: `name` or `instance_path`", ("name",))
            return VolumeMount(_volume_name(value["name"]), path)
        optional = value.get("optional", False)
        if not isinstance(optional, bool):
            raise GrammarError(f"Invalid optional: {optional!r}", ("optional",))
        try:
            instance_path = _mount_path(value["instance_path"])
        except GrammarError as e:
            raise e.within("instance_path") from None
        return VolumeMount(None, path, instance_path=instance_path, optional=optional)
    raise GrammarError(f"invalid mount point format: {value!r}")
