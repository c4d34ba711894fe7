"""Direct GPU passthrough: driver libraries from a recorded ``ldconfig -p``, device nodes on a
fake /dev, and the plan the Docker backend applies (../shared/gpu/README.md shows it working)."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from nosana_tui.host import gpus as gpu
from nosana_tui.host.gpus import BIN_DIR, LIB_DIR, DriverFile
from tests.conftest import FIXTURES

LDCONFIG = (FIXTURES / "gpu" / "ldconfig-p.txt").read_text(encoding="utf-8")
X86 = "/usr/lib/x86_64-linux-gnu"
DRIVER = [
    DriverFile("libcuda.so.1", f"{X86}/libcuda.so.1"),
    DriverFile("libcudadebugger.so.1", f"{X86}/libcudadebugger.so.1"),
    DriverFile("libnvcuvid.so.1", f"{X86}/libnvcuvid.so.1"),
    DriverFile("libnvidia-allocator.so.1", f"{X86}/libnvidia-allocator.so.1"),
    DriverFile("libnvidia-cfg.so.1", f"{X86}/libnvidia-cfg.so.1"),
    DriverFile("libnvidia-gpucomp.so.580.159.04", f"{X86}/libnvidia-gpucomp.so.580.159.04"),
    DriverFile("libnvidia-ml.so.1", f"{X86}/libnvidia-ml.so.1"),
    DriverFile("libnvidia-nvvm.so.4", f"{X86}/libnvidia-nvvm.so.4"),
    DriverFile("libnvidia-ptxjitcompiler.so.1", f"{X86}/libnvidia-ptxjitcompiler.so.1"),
]
DEVICES = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0"]


# -- ldconfig --------------------------------------------------------------------------------


def test_parse_ldconfig_keeps_the_drivers_libraries() -> None:
    # Left out: libcudart and libcublas (images bring them), the toolkit's libnvidia-container,
    # the GL vendor libraries, the bare .so development links and the i386 libcuda.
    assert gpu.parse_ldconfig(LDCONFIG) == DRIVER


def test_parse_ldconfig_other_architectures() -> None:
    assert gpu.parse_ldconfig(LDCONFIG, arch="AArch64") == []
    i386 = gpu.parse_ldconfig(LDCONFIG, arch="")  # every architecture: the first entry wins
    assert DriverFile("libcuda.so.1", f"{X86}/libcuda.so.1") in i386
    arm = "\tlibcuda.so.1 (libc6,AArch64) => /usr/lib/aarch64-linux-gnu/libcuda.so.1\n"
    assert gpu.parse_ldconfig(arm, arch="AArch64") == [
        DriverFile("libcuda.so.1", "/usr/lib/aarch64-linux-gnu/libcuda.so.1")
    ]


def test_parse_ldconfig_keeps_a_bare_link_only_without_a_soname() -> None:
    text = (
        "\tlibnvidia-foo.so (libc6,x86-64) => /x/libnvidia-foo.so\n"
        "\tlibcuda.so (libc6,x86-64) => /x/libcuda.so\n"
        "\tlibcuda.so.1 (libc6,x86-64, OS ABI: Linux 3.2.0) => /x/libcuda.so.1\n"
        "\tlibcuda.so.1 (libc6,x86-64) => /y/libcuda.so.1\n"
    )
    assert gpu.parse_ldconfig(text) == [
        DriverFile("libcuda.so.1", "/x/libcuda.so.1"),
        DriverFile("libnvidia-foo.so", "/x/libnvidia-foo.so"),
    ]


def make_driver(folder: Path, files: dict[str, str]) -> None:
    """Versioned files with their soname links, as the driver's installer leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    for soname, real in files.items():
        (folder / real).write_bytes(b"\x7fELF")
        if soname != real:
            (folder / soname).symlink_to(real)


class LdconfigRunner:
    def __init__(self, text: str, missing: Sequence[str] = ()) -> None:
        self.text = text
        self.missing = missing
        self.calls: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], timeout: float = gpu.SMI_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[0] in self.missing:
            raise FileNotFoundError(2, "No such file or directory", argv[0])
        return subprocess.CompletedProcess(list(argv), 0, self.text, "")


@pytest.fixture(autouse=True)
def _x86(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "_ldconfig_arch", lambda: "x86-64")


def test_find_driver_files_resolves_what_ldconfig_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lib = tmp_path / "lib"
    make_driver(
        lib,
        {
            "libcuda.so.1": "libcuda.so.580.159.04",
            "libnvidia-ml.so.1": "libnvidia-ml.so.580.159.04",
            "libnvidia-ptxjitcompiler.so.1": "libnvidia-ptxjitcompiler.so.580.159.04",
            "libnvidia-nvvm.so.4": "libnvidia-nvvm.so.580.159.04",
        },
    )
    runner = LdconfigRunner(LDCONFIG.replace(X86, str(lib)), missing=["/sbin/ldconfig"])
    monkeypatch.setattr(gpu, "_run", runner)
    # The other libraries ldconfig names are not there: left out, not guessed.
    assert gpu.find_driver_files(dirs=[]) == [
        DriverFile("libcuda.so.1", str(lib / "libcuda.so.580.159.04")),
        DriverFile("libnvidia-ml.so.1", str(lib / "libnvidia-ml.so.580.159.04")),
        DriverFile("libnvidia-nvvm.so.4", str(lib / "libnvidia-nvvm.so.580.159.04")),
        DriverFile(
            "libnvidia-ptxjitcompiler.so.1", str(lib / "libnvidia-ptxjitcompiler.so.580.159.04")
        ),
    ]
    assert runner.calls == [["/sbin/ldconfig", "-p"], ["/usr/sbin/ldconfig", "-p"]]


def test_find_driver_files_scans_driver_folders_without_ldconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(gpu, "_run", LdconfigRunner("", missing=gpu.LDCONFIG))
    decoy = tmp_path / "other"
    make_driver(decoy, {"libnvidia-ml.so.1": "libnvidia-ml.so.1"})  # no libcuda: not this one
    nvidia = tmp_path / "nvidia" / "lib64"
    make_driver(
        nvidia,
        {
            "libcuda.so.580.159.04": "libcuda.so.580.159.04",  # ldconfig never made the link
            "libnvidia-ml.so.1": "libnvidia-ml.so.580.159.04",
            "libnvidia-gpucomp.so.580.159.04": "libnvidia-gpucomp.so.580.159.04",
            "libcudart.so.12": "libcudart.so.12.8.90",
        },
    )
    (nvidia / "libcuda.so").symlink_to("libcuda.so.580.159.04")
    (nvidia / "libnvidia-nvvm.so.4").symlink_to("libnvidia-nvvm.so.580.159.04")  # dangling
    found = gpu.find_driver_files(dirs=[str(tmp_path / "missing"), str(decoy), str(nvidia)])
    assert found == [
        DriverFile("libcuda.so.1", str(nvidia / "libcuda.so.580.159.04")),
        DriverFile(
            "libnvidia-gpucomp.so.580.159.04", str(nvidia / "libnvidia-gpucomp.so.580.159.04")
        ),
        DriverFile("libnvidia-ml.so.1", str(nvidia / "libnvidia-ml.so.580.159.04")),
    ]


def test_find_driver_files_on_a_host_without_driver(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(gpu, "_run", LdconfigRunner("0 libs found in cache `/etc/ld.so.cache'\n"))
    assert gpu.find_driver_files(dirs=[str(tmp_path)]) == []


def test_find_driver_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(
        "shutil.which", lambda name: "/opt/bin/nvidia-smi" if name == "nvidia-smi" else None
    )
    persistenced = tmp_path / "nvidia-persistenced"
    persistenced.write_text("")
    persistenced.chmod(0o755)
    (tmp_path / "nvidia-debugdump").write_text("")  # not executable
    assert gpu.find_driver_tools(dirs=[str(tmp_path)]) == ["/opt/bin/nvidia-smi", str(persistenced)]


# -- device nodes ----------------------------------------------------------------------------

NODES = [
    "nvidiactl",
    "nvidia-uvm",
    "nvidia-uvm-tools",
    "nvidia-modeset",
    "nvidia0",
    "nvidia1",
    "nvidia10",
    "nvidia-caps/nvidia-cap1",
    "nvidia-caps/nvidia-cap2",
]


@pytest.fixture
def fake_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A /dev with the NVIDIA nodes as character devices (mknod where allowed; otherwise files
    that the device check is told to take for character devices), and decoys."""
    dev = tmp_path / "dev"
    (dev / "nvidia-caps").mkdir(parents=True)
    made: set[Path] = set()
    for minor, name in enumerate(NODES):
        path = dev / name
        try:
            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(195, minor))
        except OSError:
            path.write_text("")
            made.add(path)
    if made:
        real = gpu._is_char_device
        monkeypatch.setattr(gpu, "_is_char_device", lambda p: p in made or real(p))
    (dev / "nvidia2").write_text("")  # a plain file is no device
    (dev / "nvidia-smi.log").write_text("")
    (dev / "null-link").symlink_to("/nonexistent")
    return dev


def test_device_nodes_all(fake_dev: Path) -> None:
    assert gpu.device_nodes(dev=fake_dev) == [str(fake_dev / name) for name in NODES]


def test_device_nodes_of_some_gpus(fake_dev: Path) -> None:
    assert gpu.device_nodes([1], dev=fake_dev) == [
        str(fake_dev / name) for name in NODES if name not in ("nvidia0", "nvidia10")
    ]


def test_device_nodes_without_driver(tmp_path: Path) -> None:
    (tmp_path / "nvidiactl").write_text("")  # not a character device
    assert gpu.device_nodes(dev=tmp_path) == []
    assert gpu.device_nodes(dev=tmp_path / "missing") == []


def test_character_device_check(tmp_path: Path) -> None:
    assert gpu._is_char_device(Path("/dev/null"))
    (tmp_path / "file").write_text("")
    assert not gpu._is_char_device(tmp_path / "file")
    assert not gpu._is_char_device(tmp_path / "missing")


# -- the plan --------------------------------------------------------------------------------


def test_passthrough_plan_from_the_recorded_host() -> None:
    plan = gpu.passthrough_plan(DEVICES, gpu.parse_ldconfig(LDCONFIG), ["/usr/bin/nvidia-smi"])
    assert plan.devices == DEVICES
    assert plan.binds == [(f.path, f"{LIB_DIR}/{f.soname}") for f in DRIVER] + [
        ("/usr/bin/nvidia-smi", f"{BIN_DIR}/nvidia-smi")
    ]
    # The four the H100 check bound, among them, each under its soname.
    targets = {target for _, target in plan.binds}
    for soname in (
        "libcuda.so.1",
        "libnvidia-ml.so.1",
        "libnvidia-ptxjitcompiler.so.1",
        "libnvidia-nvvm.so.4",
    ):
        assert f"{LIB_DIR}/{soname}" in targets
    assert plan.env == {
        "LD_LIBRARY_PATH": LIB_DIR,
        "NVIDIA_VISIBLE_DEVICES": "0",
        "NVIDIA_DRIVER_CAPABILITIES": "compute,utility,video",
    }


def test_passthrough_plan_names_the_gpus_it_gives() -> None:
    plan = gpu.passthrough_plan(["/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia3"], DRIVER[:1], [])
    assert plan.env["NVIDIA_VISIBLE_DEVICES"] == "1,3"
    assert plan.binds == [(f"{X86}/libcuda.so.1", f"{LIB_DIR}/libcuda.so.1")]


@pytest.mark.parametrize(
    ("devices", "files", "message"),
    [
        (
            ["/dev/nvidia0", "/dev/nvidia-uvm"],
            DRIVER,
            "no /dev/nvidiactl on this host: the NVIDIA kernel driver is not loaded. "
            "Install the NVIDIA driver to give containers a GPU.",
        ),
        (
            ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-modeset"],
            DRIVER,
            "no /dev/nvidia<N> GPU device on this host (or none of the GPUs asked for): "
            "check that the NVIDIA driver sees the GPU (nvidia-smi).",
        ),
        (
            DEVICES,
            [f for f in DRIVER if f.soname != "libcuda.so.1"],
            "libcuda.so.1 was not found (ldconfig -p, /usr/local/nvidia/lib64, "
            "/usr/lib/x86_64-linux-gnu, /usr/lib64, /usr/lib/wsl/lib): install the NVIDIA "
            "driver's user-space libraries, or the NVIDIA container toolkit for Docker's --gpus.",
        ),
    ],
    ids=["no-nvidiactl", "no-gpu-node", "no-libcuda"],
)
def test_passthrough_plan_says_what_is_missing(
    devices: list[str], files: list[DriverFile], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        gpu.passthrough_plan(devices, files, ["/usr/bin/nvidia-smi"])
    assert str(raised.value) == message


def test_merged_env_keeps_the_images_search_paths() -> None:
    plan = gpu.passthrough_plan(DEVICES, DRIVER, ["/usr/bin/nvidia-smi"])
    cuda_image = {
        "PATH": "/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LD_LIBRARY_PATH": "/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
    }
    merged = plan.merged_env(cuda_image)
    assert merged["LD_LIBRARY_PATH"] == "/usr/local/nvidia/lib64:/usr/local/nvidia/lib"
    assert merged["PATH"] == cuda_image["PATH"]  # BIN_DIR already first
    conda = plan.merged_env({"PATH": "/opt/conda/bin:/usr/bin:/bin"})
    assert conda["PATH"] == "/usr/local/nvidia/bin:/opt/conda/bin:/usr/bin:/bin"
    assert conda["LD_LIBRARY_PATH"] == LIB_DIR
    no_tools = gpu.passthrough_plan(DEVICES, DRIVER, [])
    assert "PATH" not in no_tools.merged_env({"PATH": "/usr/bin:/bin"})
    assert "PATH" not in plan.merged_env({})  # never a PATH that hides the image's programs


def test_plan_passthrough_uses_this_hosts_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[int] | None] = []

    def nodes(ids: list[int] | None = None) -> list[str]:
        asked.append(ids)
        return ["/dev/nvidiactl", "/dev/nvidia1"]

    monkeypatch.setattr(gpu, "device_nodes", nodes)
    monkeypatch.setattr(gpu, "find_driver_files", lambda: DRIVER[:1])
    monkeypatch.setattr(gpu, "find_driver_tools", lambda: [])
    plan = gpu.plan_passthrough([1])
    assert asked == [[1]]
    assert plan.devices == ["/dev/nvidiactl", "/dev/nvidia1"]
    assert plan.binds == [(f"{X86}/libcuda.so.1", f"{LIB_DIR}/libcuda.so.1")]
