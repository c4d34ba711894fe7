"""Validating large job files: ``nosana-tui validate FILE`` in-process (``validate_file``: read,
parse with the line and column of every value, validate, place the diagnostics) on generated jobs
of 100 KiB to 4 MiB, JSON and YAML, against the floor: parsing the same file without positions
(``json.loads``, ``yaml.safe_load``) and, for YAML, ``yaml.compose`` (the node tree with marks,
which is where YAML positions come from). Not a test: it prints figures.

    .venv/bin/python bench/validate.py [-n 5] [--sizes 100,400,1024,4096]
                                       [--before /tmp/before-positions] [--budget 30]

- Jobs: N ops (as many as the size needs), each a ``container/run`` with a 29-item ``cmd``, a
  41-entry ``env`` (one value a ``%%ops.<previous>.host%%`` literal), ``expose`` and its own
  group; 20 global env entries. JSON as ``json.dumps(indent=2)``, YAML as ``yaml.safe_dump``.
  ``json+diag``: the JSON job with an unknown field in every op (one diagnostic per op to place).
- Each implementation runs in its own interpreter: 1 warm-up on the smallest file, then per file
  up to n timed runs (median and min shown), fewer once a file has taken ``--budget`` s; a file
  whose time, extrapolated from the two sizes below it, would pass the budget is skipped and its
  estimate printed.
- ``--before CHECKOUT`` times that checkout's code in the same run
  (``git worktree add /tmp/before-positions HEAD`` for the code before a change).
- Also shown: ``yaml.load`` with libyaml's ``CSafeLoader``, where PyYAML was built with it (the
  validator reads with it since 2026-11-30, falling back to the pure-Python ``SafeLoader`` for a
  document libyaml refuses).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# Not ``from _common import ...`` here: it imports nosana_tui, and a worker must import the
# package from the checkout it times.
ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

FORMATS = ("json", "json+diag", "yaml")


# --- the jobs -----------------------------------------------------------------------------------


def make_op(i: int, unknown_field: bool) -> dict[str, Any]:
    env = {f"VAR_{j:03d}": f"value-{i}-{j}-" + "x" * (j % 23) for j in range(40)}
    if i:
        env["UPSTREAM"] = f"http://%%ops.op-{i - 1:05d}.host%%:8000"
    args: dict[str, Any] = {
        "image": f"registry.example.com/team/service-{i % 50}:1.{i % 7}",
        "cmd": ["python", "-m", "server", "--port", "8000"]
        + [f"--flag-{k}=v{k * i}" for k in range(24)],
        "env": env,
        "expose": [8000],
        "gpu": i % 2 == 0,
    }
    if unknown_field:
        args["retries"] = 3
    return {
        "type": "container/run",
        "id": f"op-{i:05d}",
        "args": args,
        "execution": {"group": f"stage-{i:05d}"},
    }


def job_text(fmt: str, ops: int) -> str:
    job = {
        "version": "0.1",
        "type": "container",
        "meta": {"trigger": "cli"},
        "global": {"env": {f"G_{j}": str(j) for j in range(20)}},
        "ops": [make_op(i, fmt == "json+diag") for i in range(ops)],
    }
    if fmt == "yaml":
        return yaml.safe_dump(job, sort_keys=False)
    return json.dumps(job, indent=2)


def write_jobs(folder: Path, sizes_kib: list[int]) -> list[tuple[str, int, Path]]:
    """(format, KiB, file) for every format and size: as many ops as come closest to the size."""
    out = []
    for fmt in FORMATS:
        per_op = len(job_text(fmt, 11)) - len(job_text(fmt, 10))
        base = len(job_text(fmt, 0))
        for kib in sizes_kib:
            ops = max(1, round((kib * 1024 - base) / per_op))
            path = folder / f"job-{fmt.replace('+', '-')}-{kib}k.{fmt[:4]}"
            path.write_text(job_text(fmt, ops), encoding="utf-8")
            out.append((fmt, kib, path))
    return out


# --- a worker: one implementation in its own interpreter --------------------------------------


def _runner(what: str, root: str) -> Any:
    if what == "validate":
        sys.path.insert(0, root)
        from nosana_tui.jobformat import validate

        if not Path(validate.__file__).resolve().is_relative_to(Path(root).resolve()):
            raise SystemExit(f"imported {validate.__file__}, not the code under {root}")

        def run(path: Path) -> int:
            _, report = validate.validate_file(path)
            if any(d.code != "unknown-field" for d in report.errors):
                raise SystemExit(f"{path}: {report.diagnostics[0].render()}")
            return len(report.diagnostics)

        return run
    loaders: dict[str, Callable[[str], Any]] = {
        "json.loads": json.loads,
        "yaml.safe_load": yaml.safe_load,
        "yaml.compose": yaml.compose,
        "yaml CSafeLoader": lambda text: yaml.load(text, Loader=yaml.CSafeLoader),
    }
    loader = loaders[what]

    def parse(path: Path) -> int:
        loader(path.read_text(encoding="utf-8"))
        return 0

    return parse


def worker(what: str, root: str, n: int, budget: float, files: list[str]) -> None:
    run = _runner(what, root)
    paths = [Path(f) for f in files]
    run(min(paths, key=lambda p: p.stat().st_size))  # warm-up: imports, caches
    done: list[tuple[int, float]] = []  # (bytes, median s) of files timed so far
    results: dict[str, Any] = {}
    for path in sorted(paths, key=lambda p: p.stat().st_size):
        size = path.stat().st_size
        if len(done) >= 2:
            (s1, t1), (s2, t2) = done[-2], done[-1]
            power = math.log(t2 / t1) / math.log(s2 / s1) if t1 > 0 and t2 > 0 else 1.0
            estimate = t2 * (size / s2) ** max(power, 1.0)
            if estimate > budget:
                results[str(path)] = {"skipped": estimate}
                continue
        times: list[float] = []
        diagnostics = 0
        while len(times) < n and (not times or sum(times) < budget):
            t0 = time.perf_counter()
            diagnostics = run(path)
            times.append(time.perf_counter() - t0)
        done.append((size, statistics.median(times)))
        results[str(path)] = {"times": times, "diagnostics": diagnostics}
    print(json.dumps(results))


def measure(what: str, root: Path, n: int, budget: float, files: list[Path]) -> dict[str, Any]:
    cmd = [PY, __file__, "--worker", what, "--root", str(root), "-n", str(n)]
    cmd += ["--budget", str(budget), *map(str, files)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{what} ({root}) failed:\n{out.stderr}")
    return dict(json.loads(out.stdout))


# --- the report ---------------------------------------------------------------------------------


def cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    if "skipped" in result:
        return f"(~{result['skipped']:.0f} s, skipped)"
    times = result["times"]
    return f"{statistics.median(times):.3f} s (min {min(times):.3f}, n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=5, help="timed runs per file (default 5)")
    parser.add_argument("--sizes", default="100,400,1024,4096", help="KiB, comma-separated")
    parser.add_argument("--before", type=Path, help="a checkout of the code before the change")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per file and code")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.root, args.n, args.budget, args.files)
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine

    info = machine()
    print("machine:")
    for key in ("cpu", "cores", "ram", "kernel", "python"):
        print(f"  {key:15} {info[key]}")
    print(f"  {'pyyaml':15} {yaml.__version__} (libyaml: {yaml.__with_libyaml__})")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="nosana-bench-validate-") as tmp:
        jobs = write_jobs(Path(tmp), sizes)
        by_format = {fmt: [p for f, _, p in jobs if f == fmt] for fmt in FORMATS}
        columns: list[tuple[str, dict[str, Any]]] = []

        def timed(what: str, root: Path, fmts: tuple[str, ...] = FORMATS) -> dict[str, Any]:
            print(f"timing {what} ({root}) ...", flush=True)
            out: dict[str, Any] = {}
            for fmt in fmts:  # one interpreter per format: the extrapolation stays within one
                out.update(measure(what, root, args.n, args.budget, by_format[fmt]))
            return out

        if args.before:
            columns.append(("before", timed("validate", args.before)))
        ours = timed("validate", ROOT)
        columns.append(("after" if args.before else "validate", ours))
        for floor, fmts in (
            ("json.loads", ("json", "json+diag")),
            ("yaml.safe_load", ("yaml",)),
            ("yaml.compose", ("yaml",)),
            ("yaml CSafeLoader", ("yaml",)),
        ):
            if floor != "yaml CSafeLoader" or yaml.__with_libyaml__:
                columns.append((floor, timed(floor, ROOT, fmts)))

        head = ["format", "size", "ops", "diagnostics", *(name for name, _ in columns)]
        print()
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for fmt, _kib, path in jobs:
            text = path.read_text(encoding="utf-8")
            ops = text.count('"type": "container/run"') + text.count("type: container/run")
            row = [fmt, f"{path.stat().st_size / 1024:,.0f} KiB", f"{ops:,}"]
            row.append(str(ours.get(str(path), {}).get("diagnostics", "-")))
            row += [cell(results.get(str(path))) for _, results in columns]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
