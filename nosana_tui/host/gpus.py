"""The host's NVIDIA GPUs: what they are, who uses them, and how a container gets them.

Discovery asks NVML first (the ``pynvml`` module of the ``nvidia-ml-py`` package, imported only
when present), then ``nvidia-smi``. No driver, no ``nvidia-smi`` or no GPU is a normal answer:
``Discovery("none", [], note)`` with the reason in words.

A container gets the GPUs in one of four ways (``GpuTelemetry.access``):

- ``runtime``: the Docker engine has the NVIDIA container toolkit; ``--gpus all`` (a device
  request) makes the toolkit add the devices, the driver's libraries and its tools.
- ``cdi``: the engine has no NVIDIA runtime but resolves CDI devices (CDI on, and a spec from
  ``nvidia-ctk cdi generate``; seen in ``/info`` from Docker 27 on): a device request with the
  ``cdi`` driver names ``nvidia.com/gpu=all`` (or ``=0``, ``=1``...), and the engine applies
  the spec. A stale spec is the engine's to report: the op fails with its words.
- ``passthrough``: no toolkit, but the host has the driver. The agent does what the toolkit
  would: every ``/dev/nvidia*`` character device at the same path, and the driver's user-space
  libraries bound read-only under their sonames into one folder (``LIB_DIR``) named by
  ``LD_LIBRARY_PATH``. ``passthrough_plan`` builds that list; the Docker backend applies it.
- ``none``: no driver on the host; ops that ask for a GPU fail with a message that says what to
  install.

Direct passthrough was shown to work on an H100 with driver 580.159.04 and no toolkit
(../shared/gpu/README.md): the devices plus ``libcuda.so.1``, ``libnvidia-ml.so.1``,
``libnvidia-ptxjitcompiler.so.1`` and ``libnvidia-nvvm.so.4`` bound into
``/usr/local/nvidia/lib64`` with ``LD_LIBRARY_PATH`` set to it ran a CUDA program in a minimal
image; without the devices CUDA said "no CUDA-capable device is detected". ``libcuda`` links
``libdl.so.2``, ``libpthread.so.0`` and ``librt.so.1``, so the image needs a glibc that has them
(any ordinary distribution image does); without them CUDA reports "driver version is
insufficient".

Everything here blocks (subprocesses with a timeout, NVML calls); the agent calls it from
worker threads.
"""

from __future__ import annotations

import contextlib
import csv
import os
import platform
import re
import shutil
import stat
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nosana_tui.api.models import GpuDevice, GpuProcess

SMI_TIMEOUT_S = 5.0
GPU_FIELDS = (
    "index",
    "name",
    "uuid",
    "memory.total",
    "memory.used",
    "utilization.gpu",
    "driver_version",
    "compute_cap",  # drivers older than about 510 reject it: queried again without
)
APP_FIELDS = ("gpu_uuid", "pid", "used_memory")

CDI_KIND = "nvidia.com/gpu"  # the kind nvidia-ctk's CDI specs declare
LIB_DIR = "/usr/local/nvidia/lib64"  # where the toolkit puts them; nvidia/cuda images name it too
BIN_DIR = "/usr/local/nvidia/bin"
DRIVER_DIRS = (
    "/usr/local/nvidia/lib64",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib64",
    "/usr/lib/wsl/lib",
)
TOOL_NAMES = ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced")
TOOL_DIRS = ("/usr/bin",)
LDCONFIG = ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig")

# The driver's libraries whose names do not start with "libnvidia-". The GL vendor libraries
# (libGLX_nvidia, libEGL_nvidia, libvdpau_nvidia) are left out: glvnd finds them through vendor
# files this plan does not provide, so binding them alone would do nothing.
_DRIVER_STEMS = frozenset({"libcuda", "libcudadebugger", "libnvcuvid", "libnvoptix"})
# Libraries named libnvidia-* that are not the driver's (the toolkit's own).
_NOT_DRIVER_PREFIXES = ("libnvidia-container",)
# Sonames of driver files found by scanning a folder where ldconfig never made the links.
_SONAME_MAJOR = {
    "libcuda": "1",
    "libcudadebugger": "1",
    "libnvidia-ml": "1",
    "libnvidia-ptxjitcompiler": "1",
    "libnvidia-nvvm": "4",
    "libnvidia-opencl": "1",
    "libnvidia-allocator": "1",
    "libnvidia-cfg": "1",
    "libnvidia-encode": "1",
    "libnvcuvid": "1",
}
_HEX64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_CUDA_VERSION = re.compile(r"CUDA Version\s*:\s*(\d+(?:\.\d+)*)")
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$")
_GPU_NODE = re.compile(r"nvidia(\d+)")


@dataclass(frozen=True)
class Discovery:
    source: str  # "nvml", "nvidia-smi" or "none"
    gpus: list[GpuDevice]
    note: str = ""  # when none: why, in words; else which GPUs did not answer, if any


@dataclass(frozen=True)
class DriverFile:
    soname: str  # e.g. "libcuda.so.1": the name the container sees
    path: str  # the host file it resolves to


@dataclass(frozen=True)
class Passthrough:
    devices: list[str]  # host device paths, given at the same path in the container (rwm)
    binds: list[tuple[str, str]]  # (host path, container path), read-only
    env: dict[str, str]  # LD_LIBRARY_PATH and the toolkit's NVIDIA_* hints; see merged_env

    def merged_env(self, image_env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with the image's own search paths kept: a container's variable replaces the
        image's, so ``LD_LIBRARY_PATH`` goes in front of the image's value, and ``BIN_DIR`` in
        front of the image's ``PATH`` when tools are bound (``PATH`` is never set on its own:
        that would hide the image's programs)."""
        merged = dict(self.env)
        if old := image_env.get("LD_LIBRARY_PATH", ""):
            merged["LD_LIBRARY_PATH"] = _prepend(LIB_DIR, old)
        image_path = image_env.get("PATH", "")
        if image_path and any(target.startswith(BIN_DIR + "/") for _, target in self.binds):
            merged["PATH"] = _prepend(BIN_DIR, image_path)
        return merged


def _prepend(folder: str, search_path: str) -> str:
    parts = [p for p in search_path.split(":") if p]
    return ":".join([folder, *(p for p in parts if p != folder)])


# -- running things ------------------------------------------------------------------------


def _run(argv: Sequence[str], timeout: float = SMI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its text; raises OSError when it cannot start and
    subprocess.TimeoutExpired. Tests replace this function."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False, errors="replace"
    )


def _find_tool(name: str, dirs: Sequence[str] | None = None) -> str | None:
    """A program's host path: on PATH, else in ``dirs`` (default ``TOOL_DIRS``: an agent started
    by systemd may have a short PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in TOOL_DIRS if dirs is None else dirs:
        candidate = os.path.join(folder, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _message(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed command said: nvidia-smi prints its errors on stdout."""
    text = " ".join(
        line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines() if line.strip()
    )
    return text or f"exit status {done.returncode}"


# -- NVML ------------------------------------------------------------------------------------

_nvml_lock = threading.Lock()
_nvml_ready: Any = None  # the pynvml module once nvmlInit succeeded


def _load_nvml() -> Any:
    """The ``pynvml`` module, or None when it is not installed. Tests replace this function."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def _nvml() -> tuple[Any, str]:
    """The initialised pynvml module, or None and why not.

    NVML stays initialised once it answers: nvmlInit wakes every GPU, which takes a while without
    persistence mode, and telemetry asks every second. A failure is not remembered, so a driver
    loaded later is found.
    """
    global _nvml_ready
    with _nvml_lock:
        if _nvml_ready is not None:
            return _nvml_ready, ""
        nvml = _load_nvml()
        if nvml is None:
            return None, "pynvml is not installed"
        try:
            nvml.nvmlInit()
        except Exception as err:  # NVMLError_DriverNotLoaded, _LibraryNotFound, ...
            return None, f"NVML: {_nvml_error(err)}"
        _nvml_ready = nvml
        return nvml, ""


def _nvml_error(err: Exception) -> str:
    return str(err) or type(err).__name__


def _text(value: Any) -> str:
    """pynvml returns bytes in old versions, str in new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _optional(call: Any, *args: Any) -> Any:
    """An NVML query a GPU may not support (NOT_SUPPORTED, N/A): None instead of an error."""
    try:
        return call(*args)
    except Exception:
        return None


def _cuda_from_nvml(nvml: Any) -> str:
    query = getattr(nvml, "nvmlSystemGetCudaDriverVersion_v2", None) or getattr(
        nvml, "nvmlSystemGetCudaDriverVersion", None
    )
    version = _optional(query) if query is not None else None
    if not isinstance(version, int) or version <= 0:
        return ""
    return f"{version // 1000}.{version % 1000 // 10}"  # 13000 -> "13.0", 12020 -> "12.2"


def _discover_nvml(nvml: Any) -> Discovery:
    """Every GPU that answers; one that does not (fallen off the bus, needing a reset) is left
    out and named in the note, rather than hiding the others."""
    driver = _text(_optional(nvml.nvmlSystemGetDriverVersion) or "")
    cuda = _cuda_from_nvml(nvml)
    gpus: list[GpuDevice] = []
    lost: list[str] = []
    for index in range(nvml.nvmlDeviceGetCount()):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = _text(nvml.nvmlDeviceGetName(handle))
        except Exception as err:
            lost.append(f"GPU {index}: {_nvml_error(err)}")
            continue
        memory = _optional(nvml.nvmlDeviceGetMemoryInfo, handle)
        rates = _optional(nvml.nvmlDeviceGetUtilizationRates, handle)
        capability = _optional(nvml.nvmlDeviceGetCudaComputeCapability, handle)
        gpus.append(
            GpuDevice(
                index=index,
                name=name,
                uuid=_text(_optional(nvml.nvmlDeviceGetUUID, handle) or ""),
                memory_total_mb=int(memory.total) // 2**20 if memory is not None else 0,
                memory_used_mb=int(memory.used) // 2**20 if memory is not None else None,
                utilization_pct=int(rates.gpu) if rates is not None else None,
                driver_version=driver,
                cuda_version=cuda,
                compute_capability=(
                    f"{capability[0]}.{capability[1]}" if capability is not None else ""
                ),
            )
        )
    if lost and not gpus:
        return Discovery("none", [], f"no GPU answers NVML ({'; '.join(lost)})")
    if not gpus:
        return Discovery("none", [], "the NVIDIA driver reports no GPU")
    return Discovery("nvml", gpus, f"left out: {'; '.join(lost)}" if lost else "")


# -- nvidia-smi ----------------------------------------------------------------------------


def _missing(value: str) -> bool:
    """nvidia-smi's words for no value: [N/A], [Not Supported], [Unknown Error], N/A ..."""
    return not value or value.startswith("[") or value.upper() == "N/A"


def _int(value: str) -> int | None:
    value = value.strip()
    if _missing(value):
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _str(value: str) -> str:
    value = value.strip()
    return "" if _missing(value) else value


def _rows(csv_text: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in row]
        for row in csv.reader(csv_text.splitlines(), skipinitialspace=True)
        if row and any(cell.strip() for cell in row)
    ]


def parse_smi_gpus(csv_text: str, *, cuda_version: str = "") -> list[GpuDevice]:
    """Rows of ``nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,noheader,nounits``, with or
    without the last field (``compute_cap``). Rows that are not GPUs (no index) are skipped."""
    gpus: list[GpuDevice] = []
    for row in _rows(csv_text):
        if len(row) < len(GPU_FIELDS) - 1:
            continue
        index = _int(row[0])
        if index is None:
            continue
        gpus.append(
            GpuDevice(
                index=index,
                name=_str(row[1]),
                uuid=_str(row[2]),
                memory_total_mb=_int(row[3]) or 0,
                memory_used_mb=_int(row[4]),
                utilization_pct=_int(row[5]),
                driver_version=_str(row[6]),
                cuda_version=cuda_version,
                compute_capability=_str(row[7]) if len(row) >= len(GPU_FIELDS) else "",
            )
        )
    return gpus


def parse_cuda_version(nvidia_smi_text: str) -> str:
    """The ``CUDA Version: 13.0`` of plain ``nvidia-smi`` (or ``nvidia-smi -q``); "" when absent."""
    found = _CUDA_VERSION.search(nvidia_smi_text)
    return found.group(1) if found else ""


def _query_smi(smi: str) -> subprocess.CompletedProcess[str]:
    """Run the GPU query; a driver that rejects ``compute_cap`` gets it again without."""
    done = _run([smi, f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv,noheader,nounits"])
    if done.returncode != 0 and "compute_cap" in done.stdout + done.stderr:
        fields = ",".join(GPU_FIELDS[:-1])
        done = _run([smi, f"--query-gpu={fields}", "--format=csv,noheader,nounits"])
    return done


_cuda_versions: dict[str, str] = {}  # driver version -> CUDA version, from plain nvidia-smi


def _discover_smi(smi: str) -> Discovery:
    try:
        done = _query_smi(smi)
    except subprocess.TimeoutExpired:
        return Discovery("none", [], f"nvidia-smi did not answer within {SMI_TIMEOUT_S:g} s")
    except OSError as err:
        return Discovery("none", [], f"nvidia-smi could not run: {err.strerror or err}")
    # a GPU that does not answer makes nvidia-smi fail as a whole, yet it still prints the rows
    # of the others: keep those, and say what failed
    gpus = parse_smi_gpus(done.stdout)
    if done.returncode != 0 and not gpus:
        return Discovery("none", [], f"nvidia-smi failed: {_message(done)}")
    if not gpus:
        return Discovery("none", [], "nvidia-smi found no GPU")
    note = ""
    if done.returncode:
        said = (done.stdout + "\n" + done.stderr).splitlines()
        problems = [ln.strip() for ln in said if ln.strip() and not parse_smi_gpus(ln)]
        note = f"nvidia-smi failed for some GPUs: {' '.join(problems) or _message(done)}"
    cuda = _cuda_from_smi(smi, gpus[0].driver_version)
    gpus = [g.model_copy(update={"cuda_version": cuda}) for g in gpus]
    return Discovery("nvidia-smi", gpus, note)


def _cuda_from_smi(smi: str, driver: str) -> str:
    """The CUDA version from plain nvidia-smi, asked once per driver version (it changes only
    with the driver, and plain nvidia-smi is the slow query)."""
    if driver in _cuda_versions:
        return _cuda_versions[driver]
    try:
        plain = _run([smi])
    except (OSError, subprocess.TimeoutExpired):
        return ""  # the GPUs are known; only the CUDA version is missing
    # Its answer is kept whatever it was: "" for "N/A", and also when it failed (a lost GPU makes
    # it exit non-zero, often after the header): asking again each second would not help.
    cuda = _cuda_versions[driver] = parse_cuda_version(plain.stdout)
    return cuda


# -- discovery -----------------------------------------------------------------------------


def discover() -> Discovery:
    """The host's NVIDIA GPUs: NVML when it answers, else nvidia-smi, else none and why."""
    nvml, why_not = _nvml()
    if nvml is not None:
        try:
            return _discover_nvml(nvml)
        except Exception as err:
            why_not = f"NVML: {_nvml_error(err)}"
    smi = _find_tool("nvidia-smi")
    if smi is None:
        reason = "no NVIDIA driver found: nvidia-smi is not installed"
        if why_not.startswith("NVML"):
            reason += f" ({why_not})"
        return Discovery("none", [], reason)
    return _discover_smi(smi)


# -- CDI -----------------------------------------------------------------------------------


def cdi_gpu_names(info: Mapping[str, Any], *, read_specs: bool = True) -> list[str]:
    """The engine's CDI names for NVIDIA GPUs (``nvidia.com/gpu=0``, ``…=all``); [] when CDI is
    off or has none. Docker 28.2+ lists them in ``/info``'s ``DiscoveredDevices``; Docker 27+
    with CDI on lists its spec folders (``CDISpecDirs``), which are read here (YAML or JSON)
    when READ_SPECS: only when the engine runs on this machine, where those folders are."""
    names = [
        str(device.get("ID"))
        for device in info.get("DiscoveredDevices") or []
        if isinstance(device, Mapping) and str(device.get("ID", "")).startswith(f"{CDI_KIND}=")
    ]
    if names or not read_specs:
        return names
    for folder in info.get("CDISpecDirs") or []:
        names.extend(cdi_spec_names(Path(str(folder))))
    return names


def cdi_spec_names(folder: Path) -> list[str]:
    """``nvidia.com/gpu=NAME`` for every device of the NVIDIA CDI specs in FOLDER."""
    names: list[str] = []
    try:
        files = sorted(f for f in folder.iterdir() if f.suffix in (".yaml", ".yml", ".json"))
    except OSError:
        return names
    for file in files:
        try:
            spec = yaml.safe_load(file.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # not ours to judge: the engine reports its own spec errors
        if not isinstance(spec, Mapping) or spec.get("kind") != CDI_KIND:
            continue
        for device in spec.get("devices") or []:
            if isinstance(device, Mapping) and device.get("name") not in (None, ""):
                names.append(f"{CDI_KIND}={device['name']}")
    return names


def cdi_request(names: Sequence[str], ids: Sequence[int] | None) -> list[str]:
    """The CDI names to ask for: every GPU (``=all`` when the spec has it), or the agent's ids.
    ValueError when an id has no CDI device."""
    if ids is None:
        every = f"{CDI_KIND}=all"
        return [every] if every in names else [n for n in names if n != every]
    wanted = [f"{CDI_KIND}={i}" for i in ids]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ValueError(f"the engine's CDI specs have no {', '.join(missing)}")
    return wanted


# -- who uses the GPUs ---------------------------------------------------------------------


def container_id_of(pid: int, proc: Path = Path("/proc")) -> str:
    """The Docker container a host process runs in, from its cgroup path; "" when none.

    Docker's cgroup v1 (``/docker/<id>``), cgroup v2 with the systemd driver
    (``/system.slice/docker-<id>.scope``) or cgroupfs (``/docker/<id>``), and nested ones
    (kubepods, Docker in Docker): the last 64-hex id of the path is the innermost container.
    Read from the host's cgroup namespace: an agent in a container with a private one sees
    relative paths and finds nothing.
    """
    try:
        text = (proc / str(pid) / "cgroup").read_text(encoding="utf-8", errors="replace")
    except OSError:  # gone, or not ours to read
        return ""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        ids = _HEX64.findall(path)
        if ids:
            return str(ids[-1])
    return ""


def parse_smi_apps(csv_text: str, gpus: list[GpuDevice]) -> list[GpuProcess]:
    """Rows of ``nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory
    --format=csv,noheader,nounits``; a row of a GPU not in ``gpus`` is skipped."""
    index_of = {gpu.uuid: gpu.index for gpu in gpus if gpu.uuid}
    processes: list[GpuProcess] = []
    for row in _rows(csv_text):
        if len(row) < len(APP_FIELDS):
            continue
        index = index_of.get(row[0])
        pid = _int(row[1])
        if index is None or pid is None:
            continue
        processes.append(
            GpuProcess(
                gpu_index=index,
                pid=pid,
                memory_mb=_int(row[2]) or 0,
                container_id=container_id_of(pid),
            )
        )
    return processes


def _processes_nvml(nvml: Any, gpus: list[GpuDevice]) -> list[GpuProcess]:
    processes: list[GpuProcess] = []
    for gpu in gpus:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(gpu.index)
        except Exception:
            continue
        seen: set[int] = set()
        for query in (
            "nvmlDeviceGetComputeRunningProcesses",
            "nvmlDeviceGetGraphicsRunningProcesses",
        ):
            call = getattr(nvml, query, None)
            found = _optional(call, handle) if call is not None else None
            for info in found or []:
                pid = int(info.pid)
                if pid in seen:  # a process both computing and drawing is listed twice
                    continue
                seen.add(pid)
                used = getattr(info, "usedGpuMemory", None)  # None where the driver cannot say
                processes.append(
                    GpuProcess(
                        gpu_index=gpu.index,
                        pid=pid,
                        memory_mb=int(used) // 2**20 if used else 0,
                        container_id=container_id_of(pid),
                    )
                )
    return processes


def gpu_processes(gpus: list[GpuDevice]) -> list[GpuProcess]:
    """The processes using GPU memory, with their containers; job and op are for the agent to
    fill from its own containers. Empty when nothing answers."""
    if not gpus:
        return []
    nvml, _ = _nvml()
    if nvml is not None:
        return _processes_nvml(nvml, gpus)
    smi = _find_tool("nvidia-smi")
    if smi is None:
        return []
    try:
        done = _run(
            [smi, f"--query-compute-apps={','.join(APP_FIELDS)}", "--format=csv,noheader,nounits"]
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    return parse_smi_apps(done.stdout, gpus)


# -- direct passthrough --------------------------------------------------------------------


def _stem(soname: str) -> str:
    return soname.split(".so", 1)[0]


def _is_driver_library(soname: str) -> bool:
    if ".so" not in soname:
        return False
    stem = _stem(soname)
    if stem.startswith("libnvidia-"):
        return not stem.startswith(_NOT_DRIVER_PREFIXES)
    return stem in _DRIVER_STEMS


def _versioned(soname: str) -> bool:
    return not soname.endswith(".so")


def _one_per_soname(found: list[DriverFile]) -> list[DriverFile]:
    """The first entry of each soname (ldconfig lists the preferred one first); a bare ``.so``
    development link only where no versioned soname of that library exists."""
    first: dict[str, DriverFile] = {}
    for item in found:
        first.setdefault(item.soname, item)
    versioned = {_stem(s) for s in first if _versioned(s)}
    kept = [f for s, f in first.items() if _versioned(s) or _stem(s) not in versioned]
    return sorted(kept, key=lambda f: f.soname)


def parse_ldconfig(text: str, *, arch: str = "x86-64") -> list[DriverFile]:
    """The NVIDIA driver's user-space libraries in ``ldconfig -p`` output, for one architecture
    (``x86-64``, ``AArch64``; "" takes every one). Libraries of the CUDA toolkit (libcudart,
    libcublas, ...) are left out: images bring their own."""
    found: list[DriverFile] = []
    for line in text.splitlines():
        matched = _LDCONFIG_LINE.match(line)
        if not matched:
            continue
        soname, flags, path = matched.groups()
        tags = {tag.strip().lower() for tag in flags.split(",")}
        if arch and arch.lower() not in tags:
            continue
        if _is_driver_library(soname):
            found.append(DriverFile(soname, path))
    return _one_per_soname(found)


def _ldconfig_arch() -> str:
    return {"x86_64": "x86-64", "amd64": "x86-64", "aarch64": "AArch64", "arm64": "AArch64"}.get(
        platform.machine().lower(), ""
    )


def _ldconfig_text() -> str:
    for command in LDCONFIG:
        try:
            done = _run([command, "-p"])
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return done.stdout
    return ""


def _resolved(files: list[DriverFile]) -> list[DriverFile]:
    """Each file's real host path; files that are not there are dropped."""
    kept: list[DriverFile] = []
    for item in files:
        real = os.path.realpath(item.path)
        if os.path.isfile(real):
            kept.append(DriverFile(item.soname, real))
    return kept


def _scan(folder: Path) -> list[DriverFile]:
    """Driver libraries in one folder, without ldconfig. A library whose soname is known gets
    that soname, from its link or, where ldconfig never made the link, from its versioned file
    (``libcuda.so.580.159.04`` -> ``libcuda.so.1``); any other ``lib*.so.N...`` keeps its name."""
    try:
        names = sorted(entry.name for entry in folder.iterdir())
    except OSError:
        return []
    found: dict[str, DriverFile] = {}
    for name in names:
        if ".so." not in name or not _is_driver_library(name):
            continue
        stem = _stem(name)
        major = _SONAME_MAJOR.get(stem)
        soname = f"{stem}.so.{major}" if major else name
        if name == soname or soname not in found:  # the soname link itself wins
            found[soname] = DriverFile(soname, str(folder / name))
    return list(found.values())


def find_driver_files(*, dirs: Sequence[str] | None = None) -> list[DriverFile]:
    """The driver's user-space libraries on this host, resolved: from ``ldconfig -p``; when that
    has no ``libcuda``, from the first of ``dirs`` (default ``DRIVER_DIRS``) that holds one."""
    from_cache = _resolved(parse_ldconfig(_ldconfig_text(), arch=_ldconfig_arch()))
    if any(f.soname == "libcuda.so.1" for f in from_cache):
        return from_cache
    for folder in DRIVER_DIRS if dirs is None else dirs:
        scanned = _resolved(_scan(Path(folder)))
        if any(_stem(f.soname) == "libcuda" for f in scanned):
            return _one_per_soname(scanned)
    return from_cache


def find_driver_tools(*, dirs: Sequence[str] | None = None) -> list[str]:
    """Host paths of the driver's programs that are present (nvidia-smi, ...)."""
    return [path for name in TOOL_NAMES if (path := _find_tool(name, dirs)) is not None]


def _is_char_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def device_nodes(ids: list[int] | None = None, dev: Path = Path("/dev")) -> list[str]:
    """The NVIDIA character devices: the control ones, the GPUs (only ``ids`` when given, by
    device minor number, which is nvidia-smi's index on ordinary hosts) and the MIG
    capabilities. Only those that exist."""
    candidates = [
        dev / name for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
    ]
    gpus: list[tuple[int, Path]] = []
    try:
        entries = list(dev.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        matched = _GPU_NODE.fullmatch(entry.name)
        if matched and (ids is None or int(matched.group(1)) in ids):
            gpus.append((int(matched.group(1)), entry))
    candidates += [path for _, path in sorted(gpus)]
    caps = dev / "nvidia-caps"
    with contextlib.suppress(OSError):  # no MIG capabilities on this host
        candidates += sorted(caps.iterdir())
    return [str(path) for path in candidates if _is_char_device(path)]


def passthrough_plan(devices: list[str], files: list[DriverFile], tools: list[str]) -> Passthrough:
    """What a container needs to use the GPUs without the NVIDIA container toolkit.

    Raises ValueError naming what is missing when the host has no NVIDIA driver to pass through.
    """
    names = [os.path.basename(d) for d in devices]
    if "nvidiactl" not in names:
        raise ValueError(
            "no /dev/nvidiactl on this host: the NVIDIA kernel driver is not loaded. "
            "Install the NVIDIA driver to give containers a GPU."
        )
    gpu_minors = [m.group(1) for n in names if (m := _GPU_NODE.fullmatch(n))]
    if not gpu_minors:
        raise ValueError(
            "no /dev/nvidia<N> GPU device on this host (or none of the GPUs asked for): "
            "check that the NVIDIA driver sees the GPU (nvidia-smi)."
        )
    if not any(f.soname == "libcuda.so.1" for f in files):
        raise ValueError(
            "libcuda.so.1 was not found (ldconfig -p, "
            + ", ".join(DRIVER_DIRS)
            + "): install the NVIDIA driver's user-space libraries, "
            "or the NVIDIA container toolkit for Docker's --gpus."
        )
    binds = [(f.path, f"{LIB_DIR}/{f.soname}") for f in sorted(files, key=lambda f: f.soname)]
    binds += [(tool, f"{BIN_DIR}/{os.path.basename(tool)}") for tool in tools]
    env = {
        "LD_LIBRARY_PATH": LIB_DIR,
        # What the toolkit's images read; nothing here acts on them.
        "NVIDIA_VISIBLE_DEVICES": ",".join(gpu_minors),
        "NVIDIA_DRIVER_CAPABILITIES": "compute,utility,video",
    }
    return Passthrough(devices=list(devices), binds=binds, env=env)


def plan_passthrough(ids: list[int] | None = None) -> Passthrough:
    """``passthrough_plan`` for this host's devices, libraries and tools."""
    return passthrough_plan(device_nodes(ids), find_driver_files(), find_driver_tools())
