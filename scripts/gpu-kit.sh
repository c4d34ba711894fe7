#!/usr/bin/env bash
# Prepares the kit the GPU-host proof needs on the lent GPU machine, which reaches no package
# registry: the Debian Docker engine bundle (../shared/gpu/make-docker-bundle.sh), the wheels of
# this project's dependencies for that machine's Python 3.12 (it lacks pydantic, textual and the
# docker SDK), and the two CUDA programs built here (used there only if it has no nvcc).
# Run here, from the repository root:
#   scripts/gpu-kit.sh [KIT=.gpu]
# then scripts/gpu-proof.sh there, carrying KIT (docs/gpu.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kit=$(realpath -m "${1:-$root/.gpu}")
shared=${SHARED:-$root/../shared}
python=${PYTHON:-python3}
mkdir -p "$kit/wheels" "$kit/cuda"
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
if ! "$python" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d "$kit/wheels" -r "$kit/requirements.txt" \
    > "$kit/pip-download.log" 2>&1; then
  grep -v "^WARNING: Location" "$kit/pip-download.log" >&2
  echo "error: the wheels could not be downloaded (above)" >&2
  exit 1
fi

nvcc=$(command -v nvcc || ls -d /usr/local/cuda*/bin/nvcc 2>/dev/null | sort -V | tail -1 || true)
if [[ -n "$nvcc" ]]; then
  for program in cuda_check cuda_burn; do
    "$nvcc" -O2 -cudart static -o "$kit/cuda/$program" "$root/tests/gpu/$program.cu"
  done
  echo "CUDA programs built with $("$nvcc" --version | tail -1)"
else
  echo "no nvcc here: the GPU machine must build the CUDA programs itself"
fi

size=$(du -sm "$kit" | cut -f1)
tree=$(git -C "$root" ls-files -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "kit $kit: ${size} MiB ($(ls "$kit/wheels" | wc -l) wheels) + the tree ${tree} MiB"
if (( size + tree > 62 )); then
  echo "error: over 62 MiB with the tree: the device tool carries 64 MiB in all" >&2
  exit 1
fi
