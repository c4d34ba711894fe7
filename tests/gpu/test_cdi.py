"""CDI: the engine's NVIDIA devices named the Container Device Interface way, from Docker's
``/info`` (``DiscoveredDevices``, Docker 28.2+) or from the spec folders it lists
(``CDISpecDirs``, Docker 27+ with CDI on), and what an op asks for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from nosana_tui.host import gpus as gpu

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gpu"
UUID_NAME = "nvidia.com/gpu=GPU-5e1f9f2c-8a4b-4a0e-9f1e-2b6d3c4a5b6c"


def test_discovered_devices_are_read_and_other_kinds_left_out() -> None:
    info = {
        "DiscoveredDevices": [
            {"Source": "cdi", "ID": "nvidia.com/gpu=0"},
            {"Source": "cdi", "ID": "nvidia.com/gpu=all"},
            {"Source": "cdi", "ID": "vendor.com/fpga=0"},
            "not a device",
        ],
        "CDISpecDirs": ["/nowhere"],
    }
    assert gpu.cdi_gpu_names(info) == ["nvidia.com/gpu=0", "nvidia.com/gpu=all"]


def test_spec_folders_are_read_yaml_and_json_and_broken_files_skipped(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "cdi-nvidia.yaml", tmp_path / "nvidia.yaml")
    other = {"cdiVersion": "0.5.0", "kind": "vendor.com/fpga", "devices": [{"name": "0"}]}
    (tmp_path / "fpga.json").write_text(json.dumps(other), encoding="utf-8")
    second = yaml.safe_load((FIXTURES / "cdi-nvidia.yaml").read_text(encoding="utf-8"))
    second["devices"] = [{"name": "1", "containerEdits": {}}, {"nameless": True}]
    (tmp_path / "second.json").write_text(json.dumps(second), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("kind: nvidia.com/gpu\n", encoding="utf-8")
    info = {"CDISpecDirs": [str(tmp_path), str(tmp_path / "missing")]}
    assert gpu.cdi_gpu_names(info) == [
        "nvidia.com/gpu=0",
        UUID_NAME,
        "nvidia.com/gpu=all",
        "nvidia.com/gpu=1",
    ]


@pytest.mark.parametrize("info", [{}, {"CDISpecDirs": []}, {"DiscoveredDevices": None}])
def test_cdi_off_or_an_older_engine_has_no_names(info: dict[str, object]) -> None:
    assert gpu.cdi_gpu_names(info) == []


def test_the_request_is_all_or_the_agents_ids() -> None:
    names = ["nvidia.com/gpu=0", "nvidia.com/gpu=1", UUID_NAME, "nvidia.com/gpu=all"]
    assert gpu.cdi_request(names, None) == ["nvidia.com/gpu=all"]
    assert gpu.cdi_request(names[:3], None) == names[:3]  # a spec without "all"
    assert gpu.cdi_request(names, [1]) == ["nvidia.com/gpu=1"]
    with pytest.raises(ValueError, match=r"no nvidia\.com/gpu=3"):
        gpu.cdi_request(names, [0, 3])


def test_spec_folders_of_a_remote_engine_are_not_read_here(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "cdi-nvidia.yaml", tmp_path / "nvidia.yaml")
    info = {"CDISpecDirs": [str(tmp_path)]}
    assert gpu.cdi_gpu_names(info, read_specs=False) == []
    discovered = {**info, "DiscoveredDevices": [{"Source": "cdi", "ID": "nvidia.com/gpu=all"}]}
    assert gpu.cdi_gpu_names(discovered, read_specs=False) == ["nvidia.com/gpu=all"]
