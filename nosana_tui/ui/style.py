"""How states look: a glyph, a word and a colour role for every op, job, health and endpoint state.

The tables are the one place that decides how a state is shown; the graph, the tables and the
footers all read them. A colour is never a literal: each state names a *role*, a theme variable
such as ``success`` or ``foreground-muted``, and the functions here resolve it against the app's
variables (``App.get_css_variables()``), so every theme, ANSI ones included, works. A state is
always a glyph *and* a word, so it still reads on a terminal without colour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.color import Color as RichColor
from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError

from nosana_tui.api.states import EndpointStatus, Health, JobStatus, OpStatus

if TYPE_CHECKING:  # the views (pydantic) are not needed before the first frame
    from nosana_tui.api.models import OpView


@dataclass(frozen=True)
class Look:
    """How one state is shown: ``glyph`` and ``word`` in the colour of the theme variable ``role``."""

    glyph: str
    word: str
    role: str


OP_STATUS: Mapping[OpStatus, Look] = {
    OpStatus.PENDING: Look("○", "pending", "foreground-muted"),
    OpStatus.WAITING: Look("◌", "waiting", "secondary"),
    OpStatus.STARTING: Look("◔", "starting", "primary"),
    OpStatus.RUNNING: Look("●", "running", "success"),
    OpStatus.RESTARTING: Look("↻", "restarting", "warning"),
    OpStatus.STOPPING: Look("◑", "stopping", "warning"),
    OpStatus.STOPPED: Look("■", "stopped", "foreground-muted"),
    OpStatus.FINISHED: Look("✔", "finished", "success"),
    OpStatus.FAILED: Look("✖", "failed", "error"),
}

SKIPPED = Look("⊘", "skipped", "foreground-muted")
"""An op that will never start (:attr:`OpView.skipped`), or still waits in a job that has ended."""


def op_look(op: OpView, job: JobStatus | None = None) -> Look:
    """How an op's state is shown: ``skipped`` for one that will never start (the node says so,
    or its job has ended while the op still waits), else its status's look."""
    if op.skipped or (
        job is not None and job.terminal and op.status in (OpStatus.PENDING, OpStatus.WAITING)
    ):
        return SKIPPED
    return OP_STATUS[op.status]


HEALTH: Mapping[Health, Look] = {
    Health.NONE: Look("", "", "foreground-muted"),  # no checks: nothing to show
    Health.STARTING: Look("…", "checking", "warning"),
    Health.HEALTHY: Look("✓", "healthy", "success"),
    Health.UNHEALTHY: Look("✗", "unhealthy", "error"),
}

JOB_STATUS: Mapping[JobStatus, Look] = {
    JobStatus.RUNNING: Look("●", "running", "primary"),
    JobStatus.SUCCESS: Look("✔", "success", "success"),
    JobStatus.FAILED: Look("✖", "failed", "error"),
    JobStatus.STOPPED: Look("■", "stopped", "foreground-muted"),
}

ENDPOINT_STATUS: Mapping[EndpointStatus, Look] = {
    EndpointStatus.ONLINE: Look("●", "online", "success"),
    EndpointStatus.OFFLINE: Look("○", "offline", "error"),
    EndpointStatus.UNKNOWN: Look("?", "unknown", "foreground-muted"),
}


def look(state: OpStatus | Health | JobStatus | EndpointStatus) -> Look:
    """The look of any state of the four kinds."""
    if isinstance(state, OpStatus):
        return OP_STATUS[state]
    if isinstance(state, Health):
        return HEALTH[state]
    if isinstance(state, JobStatus):
        return JOB_STATUS[state]
    return ENDPOINT_STATUS[state]


# --- colours from theme variables --------------------------------------------------------------


def _parse(variables: Mapping[str, str], value: str, depth: int = 0) -> tuple[Color, float]:
    """A variable's value (``"#E0E0E099"``, ``"ansi_default 50%"``, ``"auto 60%"``, ``"$x"``) as a
    colour and an extra opacity."""
    parts = value.split()
    opacity = 1.0
    if len(parts) == 2 and parts[1].endswith("%"):
        opacity = float(parts[1][:-1]) / 100
    elif len(parts) != 1:
        raise ColorParseError(f"not a colour: {value!r}")
    token = parts[0]
    if token.startswith("$") and depth < 8:
        color, inner = _parse(variables, variables[token[1:]], depth + 1)
        return color, inner * opacity
    if token == "auto":
        return Color(0, 0, 0, auto=True), opacity
    return Color.parse(token), opacity


def _background(variables: Mapping[str, str]) -> Color | None:
    try:
        color, _ = _parse(variables, variables["background"])
    except (KeyError, ValueError, ColorParseError):
        return None
    return None if color.auto else color


def theme_style(
    variables: Mapping[str, str],
    role: str,
    *,
    bold: bool = False,
    italic: bool = False,
    on: str | None = None,
) -> Style:
    """A Rich style whose foreground is the theme variable ``role`` (``"success"``, ...).

    Translucent values are blended onto ``$background`` (Rich has no alpha); on an ANSI theme,
    where nothing can be blended, a translucent colour becomes ``dim``. ``auto`` picks the
    contrasting text colour. ``on`` names a variable for the background. An unknown role or an
    unreadable value gives no colour rather than an error: a theme may leave variables out.
    """
    base = _background(variables)
    color, dim = _resolve(variables, role, base)
    bgcolor = None
    if on is not None:
        bgcolor, _ = _resolve(variables, on, base)
    return Style(color=color, bgcolor=bgcolor, bold=bold or None, italic=italic or None, dim=dim)


def _resolve(
    variables: Mapping[str, str], role: str, base: Color | None
) -> tuple[RichColor | None, bool | None]:
    try:
        color, opacity = _parse(variables, variables[role])
    except (KeyError, ValueError, ColorParseError):
        return None, None
    if color.auto:
        if base is None or base.ansi is not None:
            return None, (True if opacity < 1 else None)
        color = base.get_contrast_text(opacity)
        opacity = 1.0
    alpha = color.a * opacity
    if alpha >= 1:
        return color.rich_color, None
    if color.ansi is not None or base is None or base.ansi is not None:
        return color.rich_color, True
    return (base + color.multiply_alpha(opacity)).rich_color, None


# --- states as text ----------------------------------------------------------------------------


def state_text(
    item: Look,
    variables: Mapping[str, str],
    *,
    glyph: bool = True,
    word: bool = True,
    bold: bool = False,
) -> Text:
    """``glyph word`` (either may be left out) in the state's colour."""
    parts = [p for p, shown in ((item.glyph, glyph), (item.word, word)) if shown and p]
    return Text(" ".join(parts), style=theme_style(variables, item.role, bold=bold))


def op_status_text(
    status: OpStatus, variables: Mapping[str, str], *, glyph: bool = True, word: bool = True
) -> Text:
    """An op's state, e.g. ``● running`` in ``$success``."""
    return state_text(OP_STATUS[status], variables, glyph=glyph, word=word)


def health_text(
    health: Health, variables: Mapping[str, str], *, glyph: bool = True, word: bool = True
) -> Text:
    """An op's health, e.g. ``✓ healthy``; empty for an op without health checks."""
    return state_text(HEALTH[health], variables, glyph=glyph, word=word)


def job_status_text(
    status: JobStatus, variables: Mapping[str, str], *, glyph: bool = True, word: bool = True
) -> Text:
    """A job's state, e.g. ``✖ failed`` in ``$error``."""
    return state_text(JOB_STATUS[status], variables, glyph=glyph, word=word)
