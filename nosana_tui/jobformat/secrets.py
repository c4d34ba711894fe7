"""Secrets in job definitions: which fields hold them, and a copy of a job with them hidden.

Registry passwords, Hugging Face tokens and S3 keys may sit in a job definition, and so may env
values such as ``HF_TOKEN``, the ``global.variables`` an env value names (``%%global.variables.
HF_TOKEN%%``), a value shaped like a well-known token under any name (``hf_…``, ``sk-…``,
``ghp_…``, ``AKIA…``) and the password in a URL (``postgres://user:PASSWORD@db``); none of them
go to logs, the UI, ``--json`` output or the node's ``/job/{job}/job-definition``.
"""

from __future__ import annotations

import re
from typing import Any

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


def redact(data: Any, *, _env: bool = False) -> Any:
    """A deep copy of ``data`` with every secret value replaced by ``***``: those under a secret
    key anywhere; in ``env`` and ``variables``, those of a secret name, those shaped like a
    token and the passwords in URLs."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            hidden = key in SECRET_KEYS or (_env and isinstance(key, str) and is_secret_env(key))
            if hidden and value not in (None, ""):
                out[key] = MASK
            elif _env and isinstance(value, str):
                out[key] = _masked_value(value)
            else:
                out[key] = redact(value, _env=key in NAMED)
        return out
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def has_secrets(data: Any) -> bool:
    return redact(data) != data
