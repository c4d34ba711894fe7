"""``sanitize.LineChunks`` and ``sanitize.clean_data``: the rules ``logs`` (both the one-shot
path, ``client.oneshot``, and ``NodeClient.log_text``) and every node answer are cleaned by."""

from __future__ import annotations

from nosana_tui.client import oneshot
from nosana_tui.sanitize import LineChunks, clean_data


def test_a_stream_is_cleaned_in_pieces_that_end_at_line_ends() -> None:
    chunks = LineChunks()
    # an OSC 52 clipboard write cut in two by the reads: cleaned whole, colour kept
    assert chunks.feed("one\ntw") == "one\n"
    assert chunks.feed("o \x1b]52;c;ZXZp") == ""
    assert chunks.feed("bA==\x07 \x1b[31mred\x1b[0m\nthree") == "two  \x1b[31mred\x1b[0m\n"
    assert chunks.end() == "three"
    assert chunks.end() == ""


def test_the_end_of_a_stream_without_a_line_end_is_cleaned_too() -> None:
    chunks = LineChunks()
    assert chunks.feed("\x1b[2Jbell\x07") == ""
    assert chunks.end() == "bell^G"


def test_clean_data_cleans_every_string_keys_included_and_drops_colour() -> None:
    data = {"name\x1b[2J": ["\x1b[31mred\x1b[0m", 3, None, {"k": "a\x07b\nc\td"}]}
    assert clean_data(data) == {"name": ["red", 3, None, {"k": "a^Gb\nc\td"}]}
    assert oneshot.clean_data is clean_data  # still importable where it was
