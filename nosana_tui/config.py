"""Where nosana-tui keeps things: the user's config, data and template folders.

``NOSANA_TUI_CONFIG_DIR`` and ``NOSANA_TUI_DATA_DIR`` override the platform defaults (tests and
people running several profiles use them); ``nosana_tui.settings`` reads them, with every other
setting. ``nosana-tui info`` prints every path and setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def templates_dir(self) -> Path:
        """The user's own templates, listed beside the built-in ones."""
        return self.config_dir / "templates"

    @property
    def token_file(self) -> Path:
        """The local agent's token, readable by the owner alone."""
        return self.config_dir / "token"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def nodes_file(self) -> Path:
        """The nodes a person has added, with their tokens (owner-only, written by the UI)."""
        return self.config_dir / "nodes.json"

    def agent_pid_file(self, port: int) -> Path:
        """Where the agent serving PORT writes its process id while it runs."""
        return self.data_dir / f"agent-{port}.pid"

    def as_dict(self) -> dict[str, str]:
        return {
            "config_dir": str(self.config_dir),
            "config_file": str(self.config_file),
            "templates_dir": str(self.templates_dir),
            "token_file": str(self.token_file),
            "nodes_file": str(self.nodes_file),
            "data_dir": str(self.data_dir),
        }


EXIT_AGENT_ALREADY_RUNS = 3
"""``node serve``'s exit code when another agent already serves the data folder."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(url: str) -> bool:
    """Whether URL names this machine: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress  # only the commands that reach a node ask (httpx imports it anyway)

    host = urlparse(url).hostname or ""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_node_url() -> str:
    """The local agent's address: the ``node`` setting (``NOSANA_TUI_NODE``), by default
    http://127.0.0.1:5001. SettingError when a setting cannot be used."""
    from nosana_tui.settings import load_settings  # pydantic-settings: only when asked

    return load_settings(paths().config_file).node


def paths() -> Paths:
    """The config and data folders (``NOSANA_TUI_CONFIG_DIR``, ``NOSANA_TUI_DATA_DIR``)."""
    from nosana_tui.settings import read_folders

    return Paths(*read_folders())
