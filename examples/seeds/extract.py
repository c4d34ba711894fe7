"""Re-extract the seed examples listed in MANIFEST.yaml from the seed documents.

Usage::

    python examples/seeds/extract.py /work/shared/seeds           # (re)write the example files
    python examples/seeds/extract.py /work/shared/seeds --check   # verify them, change nothing

Each MANIFEST entry gives a seed file and ``first_line``, the 1-based seed line where the
example's text starts. If the line before it opens a code fence, the block runs to the closing
fence; otherwise (the unfenced JSON of seed 002) it runs until its braces balance. The common
leading indentation is removed and nothing else is touched: trailing spaces, comments and
mistakes in the seed are kept, since some examples exist to be rejected by the validator.

``--check`` exits 1 if an example file is missing, differs from the seed text, or is not listed,
or if an entry's ``last_line`` does not match where the block really ends. Standard library only:
the manifest is read with a small parser for its flat ``- key: value`` form.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXTENSIONS = {"job": ".json", "dstack": ".dstack.yml"}
REQUIRED = ("file", "seed", "heading", "first_line", "kind", "complete")


class ManifestError(Exception):
    pass


# --- manifest ----------------------------------------------------------------------------------


def _scalar(text: str) -> object:
    """A YAML scalar of the forms MANIFEST.yaml uses."""
    text = text.strip()
    if text.startswith('"'):
        return json.loads(text)  # the manifest writes double-quoted strings JSON-compatibly
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ManifestError(f"unterminated string: {text}")
        return text[1:-1].replace("''", "'")
    if " #" in text:
        text = text.split(" #", 1)[0].rstrip()
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("", "null", "~"):
        return None
    try:
        return int(text)
    except ValueError:
        return text


def read_manifest(path: Path) -> list[dict[str, object]]:
    """Parse a YAML list of flat mappings (``- key: value`` then ``  key: value`` lines)."""
    entries: list[dict[str, object]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            entries.append({})
            line = line[2:]
        elif line.startswith("  ") and entries:
            line = line[2:]
        else:
            raise ManifestError(f"{path.name}:{number}: expected '- key: value' or '  key: value'")
        key, sep, value = line.partition(":")
        if not sep or not key.strip() or key != key.strip():
            raise ManifestError(f"{path.name}:{number}: expected 'key: value'")
        if key in entries[-1]:
            raise ManifestError(f"{path.name}:{number}: duplicate key {key!r}")
        entries[-1][key] = _scalar(value)
    for index, entry in enumerate(entries):
        missing = [k for k in REQUIRED if k not in entry]
        if missing:
            raise ManifestError(f"entry {index} ({entry.get('file')}): missing {missing}")
        if entry["kind"] not in EXTENSIONS:
            raise ManifestError(f"{entry['file']}: kind must be job or dstack")
        if not str(entry["file"]).endswith(EXTENSIONS[str(entry["kind"])]):
            raise ManifestError(
                f"{entry['file']}: a {entry['kind']} file ends with "
                f"{EXTENSIONS[str(entry['kind'])]}"
            )
        if not isinstance(entry["first_line"], int) or entry["first_line"] < 1:
            raise ManifestError(f"{entry['file']}: first_line must be a positive integer")
        if entry["complete"] is False and not entry.get("note"):
            raise ManifestError(f"{entry['file']}: an incomplete example needs a note")
    files = [e["file"] for e in entries]
    if len(set(files)) != len(files):
        raise ManifestError("a file is listed twice")
    return entries


# --- extraction --------------------------------------------------------------------------------


def _balanced_end(lines: list[str], start: int) -> int:
    """Index of the line where the JSON-like value opened at ``lines[start]`` closes.

    Strings (with escapes) and ``//`` comments are skipped, so a comment line does not end it.
    """
    depth = 0
    opened = False
    for index in range(start, len(lines)):
        line = lines[index]
        in_string = False
        escaped = False
        pos = 0
        while pos < len(line):
            char = line[pos]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif line.startswith("//", pos):
                break
            elif char in "{[":
                depth += 1
                opened = True
            elif char in "}]":
                depth -= 1
                if opened and depth == 0:
                    return index
            pos += 1
    raise ManifestError(f"unbalanced block starting at line {start + 1}")


def _dedent(block: list[str]) -> list[str]:
    """Remove the indentation common to the block's non-blank lines, and nothing else."""
    widths = [len(line) - len(line.lstrip(" ")) for line in block if line.strip()]
    indent = min(widths, default=0)
    out = []
    for line in block:
        if line.strip():
            out.append(line[indent:])
        else:  # whitespace-only: drop at most the common indentation
            lead = len(line) - len(line.lstrip(" "))
            out.append(line[min(lead, indent) :])
    return out


def extract(seed_text: str, first_line: int) -> tuple[str, int]:
    """The example text starting at 1-based ``first_line``, and its 1-based last line."""
    lines = seed_text.split("\n")
    start = first_line - 1
    if start >= len(lines):
        raise ManifestError(f"line {first_line} is past the end of the seed")
    before = lines[start - 1].strip() if start > 0 else ""
    if before.startswith("```"):
        end = start
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        if end == len(lines):
            raise ManifestError(f"no closing fence after line {first_line}")
        last = end - 1
    else:
        if not lines[start].lstrip().startswith(("{", "[")):
            raise ManifestError(f"line {first_line} neither follows a fence nor opens a JSON value")
        last = _balanced_end(lines, start)
    block = _dedent(lines[start : last + 1])
    return "\n".join(block) + "\n", last + 1


# --- command -----------------------------------------------------------------------------------


def run(seeds: Path, manifest: Path, out: Path, check: bool) -> int:
    entries = read_manifest(manifest)
    problems: list[str] = []
    listed: set[str] = set()
    for entry in entries:
        name = str(entry["file"])
        listed.add(name)
        seed_path = seeds / str(entry["seed"])
        text, last = extract(seed_path.read_text(encoding="utf-8"), int(entry["first_line"]))
        if "last_line" in entry and entry["last_line"] != last:
            problems.append(
                f"{name}: block ends at seed line {last}, manifest says {entry['last_line']}"
            )
        target = out / name
        if check:
            if not target.is_file():
                problems.append(f"{name}: missing")
            elif target.read_text(encoding="utf-8") != text:
                problems.append(
                    f"{name}: differs from {entry['seed']} lines {entry['first_line']}-{last}"
                )
        elif not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
    strays = sorted(
        p.name
        for p in out.iterdir()
        if p.is_file() and p.name.endswith(tuple(EXTENSIONS.values())) and p.name not in listed
    )
    problems += [f"{name}: not listed in {manifest.name}" for name in strays]
    for problem in problems:
        print(problem, file=sys.stderr)
    if check and not problems:
        print(f"ok: {len(entries)} examples match their seeds")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seeds", type=Path, help="folder holding the seed .txt files")
    parser.add_argument(
        "--check",
        action="store_true",
        help="compare the example files with the seeds; write nothing",
    )
    parser.add_argument("--manifest", type=Path, default=HERE / "MANIFEST.yaml")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of the example files")
    args = parser.parse_args(argv)
    try:
        return run(args.seeds, args.manifest, args.out, args.check)
    except (ManifestError, OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
