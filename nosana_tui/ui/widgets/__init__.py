"""Widgets of the app, one per module, each with its own DEFAULT_CSS."""
