"""Diagnostics: what the validator says about a file, in a form a person can act on.

Every diagnostic names the file, the line and column where the source has them, the path of the
field (``ops[1].execution.depends_on[0]``), what is wrong and what to do about it.

A file's keys, values and name may hold anything, an OSC 52 clipboard write included: what is
rendered here for a terminal is cleaned as node strings are (``sanitize``), in this one
place. ``to_json`` keeps the data as it is (JSON escapes control characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum

from nosana_tui.sanitize import clean_text

Path = tuple[str | int, ...]


OWN_RULE = "nosana-tui's own rule (the network's validator accepts this):"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


def format_path(path: Sequence[str | int]) -> str:
    """``("ops", 1, "execution", "depends_on", 0)`` -> ``ops[1].execution.depends_on[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


def printable(text: str) -> str:
    """TEXT from a job file (or its name) as it may reach a terminal: escape sequences removed,
    other controls, bidi and invisible characters made visible, newlines and tabs kept."""
    return clean_text(text, keep_colour=False)


@dataclass(frozen=True)
class Diagnostic:
    """One finding about one place in one file."""

    code: str
    message: str
    path: Path = ()
    hint: str = ""
    severity: Severity = Severity.ERROR
    file: str = ""
    line: int | None = None
    column: int | None = None
    # Set on an error the network's validator (``@nosana/types``) would not give: why the job
    # could not run all the same. A user may otherwise take our refusal for the network's.
    own_rule: str = ""

    @property
    def field(self) -> str:
        return format_path(self.path)

    def located(self, file: str, line: int | None, column: int | None) -> Diagnostic:
        return replace(self, file=file, line=line, column=column)

    def as_error(self) -> Diagnostic:
        return replace(self, severity=Severity.ERROR)

    def render(self) -> str:
        """``job.json:12:7: error: ops[1].execution.depends_on[0]: message (hint)``."""
        where = self.file or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        head = f"{where}: {self.severity.value}: "
        if self.path:
            head += f"{self.field}: "
        text = head + self.message
        if self.hint:
            text += f"\n    hint: {self.hint}"
        if self.own_rule:
            text += f"\n    note: {OWN_RULE} {self.own_rule}"
        return printable(text)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["path"] = self.field
        return data


@dataclass
class Report:
    """All diagnostics for one file."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """``job.json: valid (1 warning)`` or ``job.json: invalid: 2 errors, 1 warning``."""
        n_err, n_warn = len(self.errors), len(self.warnings)
        warnings = f"{n_warn} warning{'s' * (n_warn != 1)}"
        if self.ok:
            return printable(f"{self.file}: valid" + (f" ({warnings})" if n_warn else ""))
        errors = f"{n_err} error{'s' * (n_err != 1)}"
        return printable(f"{self.file}: invalid: {errors}" + (f", {warnings}" if n_warn else ""))

    def strict(self) -> Report:
        """Warnings become errors, as ``--strict`` asks."""
        return Report(self.file, [d.as_error() for d in self.diagnostics])

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "valid": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }
