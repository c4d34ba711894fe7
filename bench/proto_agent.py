"""Prototype (bench only): ``nosana-tui`` with the agent's start-up health-check backoff capped.

    BENCH_STARTUP_MAX_INTERVAL=0.25 .venv/bin/python bench/proto_agent.py node serve --port N

Same as ``python -m nosana_tui`` except that ``Timing.startup_max_interval`` (2.0 s in
nosana_tui/engine/runner.py: checks at 0, 0.25, 0.625, 1.19, 2.03, 3.3, 5.3, ... s) is set from
BENCH_STARTUP_MAX_INTERVAL, so 0.25 polls every 250 ms. bench/bringup.py runs it as the
``nosana-proto`` variant; nosana_tui/ is not changed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nosana_tui.engine.runner import Timing
from nosana_tui.entry import run
from nosana_tui.node import serve as serve_mod

_original = serve_mod.timing_from_env


def timing_from_env() -> Timing:
    timing = _original()
    timing.startup_max_interval = float(os.environ.get("BENCH_STARTUP_MAX_INTERVAL", "0.25"))
    return timing


serve_mod.timing_from_env = timing_from_env
run()
