"""Neutralising terminal escape sequences in text that came from containers or job files.

A container's output, or a key in a job file, may hold any bytes. Before it reaches a terminal,
every escape sequence except colour (SGR, ``ESC [ ... m``) is removed: no cursor moves, screen
clears, title changes, OSC 52 clipboard writes or hyperlinks; other control characters are shown
as ``^X``. Bidi controls and invisible characters, which make text read otherwise than it is
(``HF_TOKEN`` with a zero-width space inside looks like ``HF_TOKEN``), are shown as ``<U+200B>``;
a zero-width joiner between two non-ASCII characters (an emoji sequence, a script that needs it)
is kept.
"""

from __future__ import annotations

import re
from typing import Any

_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]          # CSI ... final byte
  | \x9b[0-?]*[ -/]*[@-~]            # 8-bit CSI
  | \x1b\].*?(?:\x07|\x1b\\|$)       # OSC ... BEL or ST (or the end of the line)
  | \x9d.*?(?:\x07|\x9c|$)           # 8-bit OSC
  | \x1b[PX^_].*?(?:\x1b\\|$)        # DCS, SOS, PM, APC ... ST
  | \x1b[ -/]*[0-~]                  # two-byte and nF escapes
  | \x1b                             # a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# bidi embeddings, overrides and isolates, directional marks, zero-width space, word joiner and
# invisible operators, byte-order mark
_INVISIBLE = "\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_JOINERS = "\u200c\u200d"
# a character a joiner may stand next to: not ASCII, C1, punctuation/format block or a space
_JOINABLE = "[^\x00-\xa0\u2000-\u206f\u3000\ufeff]"
_FORMAT = re.compile(
    f"[{_INVISIBLE}]|(?<!{_JOINABLE})[{_JOINERS}]|[{_JOINERS}](?!{_JOINABLE})", re.VERBOSE
)
_ANY = re.compile(
    f"(?P<esc>{_ESCAPES.pattern})|(?P<ctl>{_CONTROL.pattern})|(?P<fmt>{_FORMAT.pattern})",
    re.VERBOSE | re.DOTALL,
)


def _visible(char: str) -> str:
    code = ord(char)
    if code < 32:
        return "^" + chr(code + 64)
    if code == 127:
        return "^?"
    return f"\\x{code:02x}" if code < 0x100 else f"<U+{code:04X}>"


def clean_line(text: str, *, keep_colour: bool = True) -> str:
    """``text`` with every escape but colour removed and other controls made visible."""

    def replace(match: re.Match[str]) -> str:
        seq = match.group("esc")
        if seq is not None:
            return seq if keep_colour and _SGR.fullmatch(seq) else ""
        return _visible(match.group("ctl") or match.group("fmt"))

    return _ANY.sub(replace, text)


# all but \t and \n, and every character _FORMAT may take (joiners too: rare in logs)
_NEEDS_CLEANING = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE}{_JOINERS}]")


def clean_text(text: str, *, keep_colour: bool = True) -> str:
    """:func:`clean_line` for many lines at once (newlines kept): a chunk with no control
    character at all, the usual case, is returned as it is after one scan."""
    if _NEEDS_CLEANING.search(text) is None:
        return text
    return "\n".join(clean_line(line, keep_colour=keep_colour) for line in text.split("\n"))


class LineChunks:
    """A text stream cleaned (:func:`clean_text`) in pieces that end at line ends, so that an
    escape sequence cut in two by the reads is cleaned whole: :meth:`feed` each piece read,
    :meth:`end` once at the end of the stream; print what they return."""

    def __init__(self) -> None:
        self.pending = ""

    def feed(self, text: str) -> str:
        """The stream up to its last line end so far, cleaned ("" while no line has ended)."""
        self.pending += text
        cut = self.pending.rfind("\n") + 1
        if not cut:
            return ""
        done, self.pending = self.pending[:cut], self.pending[cut:]
        return clean_text(done)

    def end(self) -> str:
        """What is left after the last line end, cleaned."""
        rest, self.pending = self.pending, ""
        return clean_text(rest) if rest else ""


def clean_data(value: Any) -> Any:
    """VALUE (decoded JSON) with every string, keys included, cleaned of terminal escapes and
    its other control characters made visible (``^[``), newlines and tabs kept. What a node
    says (job names, messages, GPU names and notes, engine details) reaches the user's terminal
    through the UI and the CLI, and a node, a remote one above all, is not trusted to have done
    this itself. Job definitions are data and stay as they are."""
    if isinstance(value, str):
        return clean_text(value, keep_colour=False)
    if isinstance(value, list):
        return [clean_data(v) for v in value]
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    return value


_JSON_UNSAFE = re.compile(f"[\\x7f-\\x9f{_INVISIBLE}{_JOINERS}\\u2028\\u2029]")


def escape_json(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``, which escapes C0 controls itself)
    with every other character a terminal acts on or hides written as ``\\uXXXX``: the same
    data, safe to print."""
    if _JSON_UNSAFE.search(text) is None:
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
