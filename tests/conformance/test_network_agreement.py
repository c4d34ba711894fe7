"""Our validator against the network's, on every example and template and thousands of mutants.

The network's validator is ``validateJobDefinition`` of the npm package ``@nosana/types``, pinned
at 2.1.6 in ``package.json``/``package-lock.json`` beside this file (README.md says why that one
and where it differs from the 2.2.x the model follows). ``validate.mjs`` puts the whole corpus
to it in one node process.

What must hold, in the default mode and with ``--strict``:

- no job the network rejects is accepted by us;
- a job the network accepts that we reject (default mode) is rejected only by diagnostics that
  say so: ``own_rule`` names why the job could not run although the network's validator takes it.

On failure the test prints a table of the disagreements by category, with one example each.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nosana_tui.jobformat.diagnostics import Diagnostic, Severity
from nosana_tui.jobformat.validate import validate_data
from tests.conformance.corpus import Case, corpus
from tests.npm import installed_version, npm_ci, pinned_version

HERE = Path(__file__).resolve().parent
PINNED = "2.1.6"


PACKAGE = "@nosana/types"


def network_verdicts(documents: list[Any]) -> list[dict[str, Any]]:
    """The network's verdict on each document, in order (see validate.mjs)."""
    node = npm_ci(HERE, PACKAGE)
    stdin = "".join(json.dumps(d) + "\n" for d in documents)
    proc = subprocess.run(
        [node, str(HERE / "validate.mjs")],
        cwd=HERE,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(verdicts) == len(documents), proc.stderr
    return verdicts


def test_the_pinned_version_is_the_one_installed() -> None:
    npm_ci(HERE, PACKAGE)
    assert installed_version(HERE, PACKAGE) == pinned_version(HERE, PACKAGE) == PINNED


def test_a_crash_of_the_network_validator_is_a_rejection_and_ours_a_clean_error() -> None:
    """2.1.6 throws on ``expose: [null]``; we name the entry instead."""
    job = {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "a", "args": {"image": "x", "expose": [None]}}],
    }
    [verdict] = network_verdicts([job])
    assert verdict["valid"] is False
    parsed, diags = validate_data(job)
    assert parsed is None
    assert [d.field for d in diags if d.severity is Severity.ERROR] == ["ops[0].args.expose[0]"]


# --- the corpus --------------------------------------------------------------------------------


def _shape(path: str) -> str:
    """``ops[3].args.expose[1].port`` -> ``ops[*].args.expose[*].port``: a category, not a case."""
    return re.sub(r"\[\d+\]", "[*]", path)


def _network_category(verdict: dict[str, Any]) -> str:
    if "crash" in verdict:
        return f"network crashes: {verdict['crash']}"
    first = verdict["errors"][0]
    return f"{_shape(first['path'].removeprefix('$input.'))}: expected {first['expected']}"


@dataclass
class Disagreements:
    """Cases by category; one example of each to read."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, category: str, example: str) -> None:
        self.counts[category] += 1
        self.examples.setdefault(category, example)

    def table(self, title: str) -> str:
        rows = [f"{title}: {sum(self.counts.values())} cases"]
        for category, count in self.counts.most_common():
            rows.append(f"  {count:6}  {category}\n          e.g. {self.examples[category]}")
        return "\n".join(rows)


def _unmarked(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity is Severity.ERROR and not d.own_rule]


def test_we_never_accept_what_the_network_rejects() -> None:
    cases: list[Case] = corpus()
    assert len(cases) > 1000
    verdicts = network_verdicts([c.data for c in cases])

    accepted_default = Disagreements()  # network rejects, we accept
    accepted_strict = Disagreements()
    unmarked = Disagreements()  # network accepts, we reject without saying the rule is ours
    stricter = Counter[str]()  # network accepts, we reject, and say why: fine, counted
    agree = 0
    for case, verdict in zip(cases, verdicts, strict=True):
        _, diags = validate_data(case.data)
        errors = [d for d in diags if d.severity is Severity.ERROR]
        ok_default, ok_strict = not errors, not diags
        if not verdict["valid"]:
            category = _network_category(verdict)
            if ok_default:
                accepted_default.add(category, case.name)
            if ok_strict:
                accepted_strict.add(category, case.name)
            agree += not ok_default
        elif errors:
            for d in _unmarked(errors):
                unmarked.add(f"{d.code} ({_shape(d.field)})", f"{case.name}: {d.render()}")
            for d in errors:
                if d.own_rule:
                    stricter[d.code] += 1
        else:
            agree += 1

    problems = [
        d.table(title)
        for d, title in (
            (accepted_default, "the network rejects, nosana-tui validate accepts"),
            (accepted_strict, "the network rejects, nosana-tui validate --strict accepts"),
            (unmarked, "the network accepts, we reject without marking the rule as our own"),
        )
        if d.counts
    ]
    summary = (
        f"{len(cases)} cases, {agree} agree; stricter than the network (marked): "
        + ", ".join(f"{code} {n}" for code, n in stricter.most_common())
    )
    print(summary)
    assert not problems, summary + "\n\n" + "\n\n".join(problems)
