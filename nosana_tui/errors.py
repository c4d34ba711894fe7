"""Errors every layer may raise or catch, kept apart from the modules that raise them so that
catching one loads nothing heavy (``entry`` catches :class:`SettingError` around the UI, whose
start reads the theme without pydantic-settings where it can: bench/README.md, "Start-up")."""

from __future__ import annotations


class SettingError(ValueError):
    """A setting that cannot be used; the message says where it came from and how to write it."""
