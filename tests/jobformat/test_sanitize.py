"""clean_line: what a container prints reaches a terminal with colour at most."""

from __future__ import annotations

import json

import pytest

from nosana_tui.sanitize import clean_line, clean_text, escape_json

ESC = "\x1b"
ST = ESC + "\\"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # OSC: window title, with BEL or ST
        (f"a{ESC}]0;pwned title\x07b", "ab"),
        (f"a{ESC}]2;title{ST}b", "ab"),
        # OSC 52: a clipboard write
        (f"a{ESC}]52;c;cm0gLXJmIH4=\x07b", "ab"),
        (f"a{ESC}]52;c;cm0gLXJmIH4={ST}b", "ab"),
        # OSC 8 hyperlink: the text stays, the link goes
        (f"see {ESC}]8;;http://evil.example{ST}docs{ESC}]8;;{ST}.", "see docs."),
        # an OSC that never ends takes the rest of the line
        (f"a{ESC}]0;no end", "a"),
        # 8-bit OSC
        ("a\x9d0;title\x9cb", "ab"),
        ("a\x9d0;title\x07b", "ab"),
        # cursor moves, save/restore, hide
        (f"a{ESC}[10;20Hb{ESC}[3Ac{ESC}[2Cd{ESC}[Ke", "abcde"),
        (f"a{ESC}[?25l{ESC}[?1049hb", "ab"),
        (f"a{ESC}7{ESC}8b", "ab"),
        # screen clear, reset
        (f"{ESC}[2J{ESC}[Hclean", "clean"),
        (f"{ESC}[3J{ESC}cafter reset", "after reset"),
        # DCS, SOS, PM, APC ... ST
        (f"x{ESC}P1$r0m{ST}y", "xy"),
        (f"x{ESC}Pq#0;2;0;0;0{ST}y", "xy"),
        (f"x{ESC}_apc{ST}y{ESC}^pm{ST}z{ESC}Xsos{ST}!", "xyz!"),
        # 8-bit CSI
        ("a\x9b2Jb\x9b31mc", "abc"),
        # a lone ESC, at the end, or before something that makes no sequence
        (f"a{ESC}", "a"),
        (f"a{ESC}\x01b", "a^Ab"),
        (f"{ESC}{ESC}[31mred", f"{ESC}[31mred"),
        # an unfinished CSI loses its introducer; its parameters stay visible
        (f"a{ESC}[31", "a31"),
    ],
)
def test_escape_sequences_are_removed(text: str, expected: str) -> None:
    assert clean_line(text) == expected
    assert ESC not in clean_line(text, keep_colour=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bell\x07", "bell^G"),
        ("nul\x00", "nul^@"),
        ("back\x08space", "back^Hspace"),
        ("del\x7f", "del^?"),
        ("cr\rlf\n", "cr^Mlf^J"),
        ("vt\x0bff\x0c", "vt^Kff^L"),
        ("\x1a\x1f", "^Z^_"),
        ("c1 \x85 \x90x", "c1 \\x85 \\x90x"),
    ],
)
def test_other_controls_are_made_visible(text: str, expected: str) -> None:
    assert clean_line(text) == expected


def test_tabs_are_kept() -> None:
    assert clean_line("a\tb\t\tc") == "a\tb\t\tc"


@pytest.mark.parametrize(
    "sgr",
    [
        f"{ESC}[31m",
        f"{ESC}[1;32m",
        f"{ESC}[0m",
        f"{ESC}[m",
        f"{ESC}[38;5;196m",
        f"{ESC}[38;2;255;128;0m",
        f"{ESC}[38:2::255:128:0m",
        f"{ESC}[48;5;21;1;4m",
    ],
)
def test_colour_is_kept_or_dropped(sgr: str) -> None:
    text = f"before {sgr}coloured{ESC}[0m after"
    assert clean_line(text) == text
    assert clean_line(text, keep_colour=True) == text
    assert clean_line(text, keep_colour=False) == "before coloured after"


def test_colour_between_removed_sequences() -> None:
    text = f"{ESC}]0;t\x07{ESC}[1;31mERROR{ESC}[0m{ESC}[2K: disk\x07 full"
    assert clean_line(text) == f"{ESC}[1;31mERROR{ESC}[0m: disk^G full"
    assert clean_line(text, keep_colour=False) == "ERROR: disk^G full"


def test_sgr_lookalikes_are_not_colour() -> None:
    # private parameters, or an 8-bit CSI, are not the colour form that is kept
    assert clean_line(f"a{ESC}[?31mb") == "ab"
    assert clean_line("a\x9b31mb") == "ab"


@pytest.mark.parametrize(
    "text",
    [
        "héllo wörld",
        "日本語のログ",
        "emoji 🎉🚀 and ZWJ 👩‍💻",
        "RTL שלום مرحبا",
        "combining e\u0301 and nbsp\u00a0here",
        "box ┌─┐ │ └─┘ ░▒▓",
        "",
        "plain ascii 100% ok [brackets] ~tilde~",
    ],
)
def test_unicode_and_plain_text_are_intact(text: str) -> None:
    assert clean_line(text) == text
    assert clean_line(text, keep_colour=False) == text


def test_unicode_next_to_escapes() -> None:
    assert clean_line(f"🎉{ESC}[2J日本{ESC}]0;t\x07é{ESC}[32m✓{ESC}[0m") == (
        f"🎉日本é{ESC}[32m✓{ESC}[0m"
    )


def test_output_has_no_escapes_but_colour_for_any_byte() -> None:
    every = "".join(chr(i) for i in range(0x00, 0xA0)) + "[31m" + ESC + "[31m x"
    out = clean_line(every)
    rest = out.replace(f"{ESC}[31m", "")
    assert ESC not in rest and "\x9b" not in rest and "\x9d" not in rest
    assert all(ch == "\t" or not (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F) for ch in rest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # bidi overrides, embeddings, isolates and marks: text that reads otherwise than it is
        ("file\u202etxt.exe", "file<U+202E>txt.exe"),
        ("a\u202ab\u202bc\u202cd\u202de", "a<U+202A>b<U+202B>c<U+202C>d<U+202D>e"),
        ("\u2066iso\u2069 \u2067x\u2068", "<U+2066>iso<U+2069> <U+2067>x<U+2068>"),
        ("l\u200er\u200fa\u061c", "l<U+200E>r<U+200F>a<U+061C>"),
        # zero-width and invisible: HF_TOKEN that is not HF_TOKEN
        ("HF_\u200bTOKEN", "HF_<U+200B>TOKEN"),
        ("HF_\u200dTOKEN\u200c", "HF_<U+200D>TOKEN<U+200C>"),
        ("word\u2060joiner \ufeffbom", "word<U+2060>joiner <U+FEFF>bom"),
        # a joiner at an edge joins nothing
        ("\u200d🎉 🎉\u200d", "<U+200D>🎉 🎉<U+200D>"),
    ],
)
def test_bidi_and_invisible_characters_are_made_visible(text: str, expected: str) -> None:
    assert clean_line(text) == expected
    assert clean_line(text, keep_colour=False) == expected
    # logs take the fast path first: it must not let these through
    assert clean_text(f"ok\n{text}\n") == f"ok\n{expected}\n"


@pytest.mark.parametrize(
    "text",
    ["👩\u200d💻 and 👨\u200d👩\u200d👧", "می\u200cخواهم", "क्\u200dष"],
)
def test_joiners_inside_emoji_and_scripts_are_kept(text: str) -> None:
    assert clean_text(text) == text


def test_json_output_keeps_its_data_but_not_what_a_terminal_acts_on() -> None:
    data = {"k\x9d52;c;x\x07": "\u202eé 👩\u200d💻", "plain": "ascii"}
    text = escape_json(json.dumps(data, ensure_ascii=False))
    assert json.loads(text) == data
    assert not any(ch in text for ch in "\x9d\x07\u202e\u200d")
    assert "é" in text
