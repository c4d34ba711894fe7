"""Secrets in job definitions: which fields hold them, and a copy of a job with them hidden.

Registry passwords, Hugging Face tokens and S3 keys may sit in a job definition, and so may env
values such as ``HF_TOKEN``, the ``global.variables`` such a value names whatever they are called
(``HF_TOKEN: "%%global.variables.HUB%%"`` hides ``HUB``; so does a registry password, an S3 key or
an ``accessToken`` given so), a value shaped like a well-known token under any name (``hf_…``,
``sk-…``, ``ghp_…``, ``AKIA…``) and the password in a URL (``postgres://user:PASSWORD@db``);
none of them go to logs, the UI, ``--json`` output or the node's ``/job/{job}/job-definition``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from nosana_tui.jobformat.literals import Kind, NotALiteral, literals, parse_reference

MASK = "***"
SECRET_KEYS = frozenset({"password", "accessToken", "SECRET_ACCESS_KEY", "ACCESS_KEY_ID"})
# Env names that by convention hold credentials (HF_TOKEN, OPENAI_API_KEY, DB_PASSWORD, ...).
SECRET_ENV = re.compile(
    r"(?i)(token|secret|passw(or)?d|api[_-]?key|access[_-]?key|private[_-]?key)"
)


# Values that are credentials whatever they are called: the prefixes the issuers give their
# tokens (Hugging Face, OpenAI and Anthropic, GitHub, GitLab, Slack, AWS access key ids).
SECRET_VALUE = re.compile(
    r"^(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_\w{20,}|glpat-[\w-]{20,}|xox[abprs]-[\w-]{10,}|AKIA[0-9A-Z]{16})$"
)
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?P<tail>@)", re.I)
NAMED = frozenset({"env", "variables"})  # maps of names to values, some of them secret


def is_secret_env(name: str) -> bool:
    return bool(SECRET_ENV.search(name))


def _masked_value(value: str) -> str:
    """VALUE, or MASK when it is shaped like a token; a URL's password masked in place."""
    if SECRET_VALUE.match(value.strip()):
        return MASK
    return URL_PASSWORD.sub(rf"\g<head>{MASK}\g<tail>", value)


def _hidden(key: Any, named: bool) -> bool:
    """Whether the value under ``key`` is a secret by its name (``named``: in ``env`` or
    ``variables``, where names such as ``HF_TOKEN`` count)."""
    return key in SECRET_KEYS or (named and isinstance(key, str) and is_secret_env(key))


def _strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def referenced_by_secrets(data: Any, *, _named: bool = False) -> set[str]:
    """The ``global.variables`` that a secret value names with a literal (``HF_TOKEN:
    "%%global.variables.HUB%%"``, a registry password or an S3 key given so): those variables
    are secrets too, whatever they are called."""
    names: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if not _hidden(key, _named):
                names |= referenced_by_secrets(value, _named=key in NAMED)
                continue
            for text in _strings(value):
                for literal in literals(text):
                    try:
                        reference = parse_reference(literal.body)
                    except NotALiteral:
                        continue
                    if reference.kind is Kind.VARIABLE:
                        names.add(reference.name)
    elif isinstance(data, list):
        for value in data:
            names |= referenced_by_secrets(value)
    return names


def redact(data: Any) -> Any:
    """A deep copy of ``data`` with every secret value replaced by ``***``: those under a secret
    key anywhere; in ``env`` and ``variables``, those of a secret name, those shaped like a
    token and the passwords in URLs; and the variables a secret value names
    (:func:`referenced_by_secrets`)."""
    return _redact(data, referenced_by_secrets(data), None)


def _redact(data: Any, referenced: set[str], named: str | None) -> Any:
    """``named``: the key of the map ``data`` is, if ``env`` or ``variables``."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            hidden = _hidden(key, named is not None) or (named == "variables" and key in referenced)
            if hidden and value not in (None, ""):
                out[key] = MASK
            elif named is not None and isinstance(value, str):
                out[key] = _masked_value(value)
            else:
                out[key] = _redact(value, referenced, key if key in NAMED else None)
        return out
    if isinstance(data, list):
        return [_redact(v, referenced, None) for v in data]
    return data


def has_secrets(data: Any) -> bool:
    return redact(data) != data
