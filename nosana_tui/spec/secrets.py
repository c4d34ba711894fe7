"""Secrets in job definitions: which fields hold them, and a copy of a job with them hidden.

Registry passwords, Hugging Face tokens and S3 keys may sit in a job definition; they never go to
logs, the UI or ``--json`` output. Env values are shown: the network publishes them too.
"""

from __future__ import annotations

from typing import Any

MASK = "***"
SECRET_KEYS = frozenset({"password", "accessToken", "SECRET_ACCESS_KEY", "ACCESS_KEY_ID"})


def redact(data: Any) -> Any:
    """A deep copy of ``data`` with the value of every secret key replaced by ``***``."""
    if isinstance(data, dict):
        return {
            k: (MASK if k in SECRET_KEYS and v not in (None, "") else redact(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


def has_secrets(data: Any) -> bool:
    return redact(data) != data
