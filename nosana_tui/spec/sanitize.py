"""Neutralising terminal escape sequences in text that came from containers.

A container's output may hold any bytes. Before it reaches a terminal, every escape sequence
except colour (SGR, ``ESC [ ... m``) is removed: no cursor moves, screen clears, title changes,
OSC 52 clipboard writes or hyperlinks; other control characters are shown as ``^X``.
"""

from __future__ import annotations

import re

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
_ANY = re.compile(
    f"(?P<esc>{_ESCAPES.pattern})|(?P<ctl>{_CONTROL.pattern})", re.VERBOSE | re.DOTALL
)


def _visible(char: str) -> str:
    code = ord(char)
    return "^" + chr(code + 64) if code < 32 else ("^?" if code == 127 else f"\\x{code:02x}")


def clean_line(text: str, *, keep_colour: bool = True) -> str:
    """``text`` with every escape but colour removed and other controls made visible."""

    def replace(match: re.Match[str]) -> str:
        seq = match.group("esc")
        if seq is not None:
            return seq if keep_colour and _SGR.fullmatch(seq) else ""
        return _visible(match.group("ctl"))

    return _ANY.sub(replace, text)


_NEEDS_CLEANING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but \t and \n


def clean_text(text: str, *, keep_colour: bool = True) -> str:
    """:func:`clean_line` for many lines at once (newlines kept): a chunk with no control
    character at all, the usual case, is returned as it is after one scan."""
    if _NEEDS_CLEANING.search(text) is None:
        return text
    return "\n".join(clean_line(line, keep_colour=keep_colour) for line in text.split("\n"))
