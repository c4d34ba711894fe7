"""Secrets in job definitions: which fields hold them, and a copy of a job with them hidden.

Registry passwords, Hugging Face tokens and S3 keys may sit in a job definition, and so may env
values such as ``HF_TOKEN``; none of them go to logs, the UI or ``--json`` output.
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


def is_secret_env(name: str) -> bool:
    return bool(SECRET_ENV.search(name))


def redact(data: Any, *, _env: bool = False) -> Any:
    """A deep copy of ``data`` with every secret value replaced by ``***``."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            hidden = key in SECRET_KEYS or (_env and isinstance(key, str) and is_secret_env(key))
            if hidden and value not in (None, ""):
                out[key] = MASK
            else:
                out[key] = redact(value, _env=key == "env")
        return out
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def has_secrets(data: Any) -> bool:
    return redact(data) != data
