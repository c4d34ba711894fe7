#!/usr/bin/env bash
# Prepares the kit the GPU-host proof needs on the lent GPU machine, which reaches no package
# registry: the Debian Docker engine bundle (../shared/gpu/make-docker-bundle.sh) and the wheels
# of this project's dependencies for that machine's Python 3.12 (it lacks pydantic, textual and
# the docker SDK). Run here, from the repository root:
#   scripts/gpu-kit.sh [KIT=.gpu]
# then scripts/gpu-proof.sh there, carrying KIT (docs/gpu.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kit=$(realpath -m "${1:-$root/.gpu}")
shared=${SHARED:-$root/../shared}
python=${PYTHON:-python3}
mkdir -p "$kit"
exclude=$(git -C "$root" rev-parse --git-path info/exclude)
[[ "$exclude" = /* ]] || exclude="$root/$exclude"
if [[ "$kit" == "$root/.gpu" ]] && ! grep -qx '/.gpu/' "$exclude" 2>/dev/null; then
  mkdir -p "$(dirname "$exclude")"
  echo /.gpu/ >> "$exclude"  # the kit travels by the device tool's carry, not by git
fi
if [[ ! -f "$kit/dockerbundle.tar.xz" ]]; then
  "$shared/gpu/make-docker-bundle.sh" "$kit" >/dev/null
fi
cp "$shared/gpu/device-dockerd.sh" "$kit/"
# the project's own dependencies, read from pyproject.toml, plus NVML's Python module
"$python" - "$root/pyproject.toml" > "$kit/requirements.txt" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"] + ["nvidia-ml-py"]))
PY
"$python" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$kit/wheels" -r "$kit/requirements.txt" 2>&1 \
  | grep -v "^WARNING: Location" || true
size=$(du -sm "$kit" | cut -f1)
echo "kit $kit: ${size} MiB ($(ls "$kit/wheels" | wc -l) wheels); the device tool carries 64 MiB in all"
if (( size > 60 )); then
  echo "error: the kit is over 60 MiB: the device tool will not carry it with the tree" >&2
  exit 1
fi
