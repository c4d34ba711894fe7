#!/usr/bin/env bash
# The GPU-host proof (docs/gpu.md), run ON the lent GPU machine from the repository root, with the
# kit from scripts/gpu-kit.sh carried:
#   bash scripts/gpu-proof.sh [KIT=.gpu]
# Starts the Docker engine from the kit (without the NVIDIA container toolkit: GPU ops get the GPU
# by direct passthrough), installs the wheels, reports the GPU, the driver files and the engine,
# then runs the tests marked `gpu` (tests/node/test_gpu_host.py). Everything goes to $OUT (the
# device tool's folder) or ./gpu-proof: proof.log, pytest.txt, gpu-panel.txt, gpu-panel.svg.
# Without a GPU the tests are skipped, saying why, and the script says so and fails.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kit=${1:-$root/.gpu}
out=${OUT:-$root/gpu-proof}
python=${PYTHON:-python3}
for need in dockerbundle.tar.xz device-dockerd.sh requirements.txt wheels; do
  if [[ ! -e "$kit/$need" ]]; then
    echo "error: $kit/$need is missing: run scripts/gpu-kit.sh here and carry the kit" >&2
    exit 2
  fi
done
kit=$(realpath "$kit")
mkdir -p "$out"
exec > >(tee "$out/proof.log") 2>&1
tee_pid=$!
finish() { exec >&- 2>&-; wait "$tee_pid"; }  # the log complete before the script ends
trap finish EXIT
cd "$root"
step() { printf '\n== %s\n' "$*"; }

step "machine"
date -u; uname -r; "$python" --version
nvidia-smi --query-gpu=index,name,uuid,memory.total,driver_version --format=csv 2>&1 || true
ls -l /dev/nvidia* 2>&1 | head -20
ldconfig -p | grep -E 'libcuda\.|libnvidia-ml\.|libnvidia-ptxjitcompiler|libnvidia-nvvm' || true
if ! command -v nvcc >/dev/null; then
  nvcc=$(ls -d /usr/local/cuda*/bin/nvcc 2>/dev/null | sort -V | tail -1)
  [[ -n "$nvcc" ]] && PATH=$PATH:$(dirname "$nvcc")
fi
if command -v nvcc >/dev/null; then
  nvcc --version | tail -2
else
  echo "no nvcc: the tests use the programs built by gpu-kit.sh ($kit/cuda)"
fi
export NOSANA_TUI_CUDA_PROGRAMS="$kit/cuda"

step "docker engine (no NVIDIA runtime)"
bash "$kit/device-dockerd.sh" "$kit" || { echo "error: the engine did not start"; exit 1; }
export PATH=/opt/dk/bin:$PATH

step "python packages (offline, from $kit/wheels)"
site=$(mktemp -d /tmp/gpu-proof-site.XXXX)
"$python" -m pip install -q --no-index --find-links "$kit/wheels" --target "$site" \
  -r "$kit/requirements.txt" || { echo "error: the wheels did not install"; exit 1; }
export PYTHONPATH="$root:$site"
"$python" -c 'import pydantic, textual, docker, fastapi; print("pydantic", pydantic.VERSION, "textual", textual.__version__)'

step "node info, through a real agent"
export NOSANA_TUI_CONFIG_DIR=$(mktemp -d) NOSANA_TUI_DATA_DIR=$(mktemp -d)
"$python" -m nosana_tui node serve --port 5077 > "$out/agent.log" 2>&1 &
agent=$!
for _ in $(seq 40); do "$python" -m nosana_tui node info --node http://127.0.0.1:5077 \
  >/dev/null 2>&1 && break; sleep 0.5; done
"$python" -m nosana_tui node info --node http://127.0.0.1:5077
kill "$agent"; wait "$agent" 2>/dev/null
unset NOSANA_TUI_CONFIG_DIR NOSANA_TUI_DATA_DIR

step "the GPU-host tests"
NOSANA_TUI_GPU_CAPTURE="$out" "$python" -m pytest -p no:cacheprovider -m gpu -v -s -rA \
  tests/node/test_gpu_host.py 2>&1 | tee "$out/pytest.txt"
status=${PIPESTATUS[0]}
if grep -qE "(^| )SKIPPED" "$out/pytest.txt" || ! grep -q " passed" "$out/pytest.txt"; then
  echo "gpu-proof: the GPU tests did not all run (see above): no proof" >&2
  exit 1
fi
echo "gpu-proof: exit $status; files in $out"
exit "$status"
