"""Where nosana-tui keeps things: the user's config, data and template folders.

``NOSANA_TUI_CONFIG_DIR`` and ``NOSANA_TUI_DATA_DIR`` override the platform defaults (tests and
people running several profiles use them); ``nosana_tui.settings`` reads them, with every other
setting. ``nosana-tui info`` prints every path and setting.

The folders and the local agent's address are also read here without ``nosana_tui.settings``
(pydantic-settings, most of a command's start-up): a command that only reaches a node (``ps``,
``logs``, ``stop``) needs nothing else. The quick reading takes a value only where the settings
would take it unchanged, and asks them in every other case, so a value that cannot be used is
still told the one way (``SettingError``). tests/test_startup.py holds the two readings equal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

APP = "nosana-tui"  # settings.APP: the folder name under the platform's folders
DEFAULT_NODE = "http://127.0.0.1:5001"  # settings.DEFAULT_NODE


# a NamedTuple, not a dataclass: `dataclasses` (inspect, ast) was a third of `ps`'s imports
class Paths(NamedTuple):
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

    @property
    def ui_state_file(self) -> Path:
        """What the UI remembers between runs (the section it was left on); the UI writes it."""
        return self.config_dir / "ui.json"

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
            "ui_state_file": str(self.ui_state_file),
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


ALLOW_HTTP_ENV = "NOSANA_TUI_ALLOW_HTTP"  # settings.env_name("allow_http")


def plain_http_refusal(url: str, what: str, allow_http: bool) -> str | None:
    """The one rule for a credential (a node's token, the API key, a pin JWT, a poster's
    signature): why WHAT must not go to URL, or None where it may. It may not go over plain
    http:// to a host off this machine, where anyone on the way could read it and reuse it,
    unless the ``allow_http`` setting says the network is trusted."""
    if allow_http or urlparse(url).scheme.lower() == "https" or is_loopback(url):
        return None
    return (
        f"not sending {what} to {url}: plain http:// off this machine shows it to anyone on "
        "the way. Use https://, or a tunnel to a local port (ssh -L 5002:127.0.0.1:5001 ...), "
        f"or set {ALLOW_HTTP_ENV}=1 (the allow_http setting) if you trust the network"
    )


def local_node_url() -> str:
    """The local agent's address: the ``node`` setting (``NOSANA_TUI_NODE``), by default
    http://127.0.0.1:5001. SettingError when it cannot be used (told by the settings)."""
    found = _plain_node_setting()
    if found is not None:
        return found
    from nosana_tui.settings import load_settings  # pydantic-settings: only when asked

    return load_settings(paths().config_file).node


def environment() -> dict[str, str]:
    """The environment as the settings read it (pydantic-settings, ``case_sensitive=False``,
    ``env_ignore_empty``): empty values dropped first, then names in lower case, the last one
    set winning."""
    return {key.lower(): value for key, value in os.environ.items() if value}


def _environ(name: str) -> str | None:
    """Variable NAME as the settings read it (:func:`environment`)."""
    return environment().get(name.lower())


def _plain_node_setting() -> str | None:
    """The ``node`` setting where it is plainly a node URL (from the environment, else the
    config file, else the default); None where the settings must say what it is."""
    value = _environ("NOSANA_TUI_NODE")
    if value is None:
        import tomllib

        try:
            with paths().config_file.open("rb") as file:
                value = tomllib.load(file).get("node", DEFAULT_NODE)
        except FileNotFoundError:
            value = DEFAULT_NODE
        except (OSError, ValueError):  # unreadable, not UTF-8, not TOML: the settings say so
            return None
    return _plain_url(value)


def _plain_url(value: object) -> str | None:
    """VALUE, stripped, where it is plainly a node URL; None where the settings must say."""
    if not isinstance(value, str):
        return None
    try:  # (urlparse refuses some itself: "http://[::1")
        url = urlparse(value.strip())
        port = url.port
    except ValueError:
        return None
    plain = url.scheme in ("http", "https") and bool(url.hostname) and port != 0
    return value.strip() if plain else None


def paths() -> Paths:
    """The config and data folders (``NOSANA_TUI_CONFIG_DIR``, ``NOSANA_TUI_DATA_DIR``, else
    the platform's), read as ``settings.read_folders`` reads them."""
    config, data = _environ("NOSANA_TUI_CONFIG_DIR"), _environ("NOSANA_TUI_DATA_DIR")
    if config is None or data is None:
        import platformdirs

        config = config or platformdirs.user_config_dir(APP)
        data = data or platformdirs.user_data_dir(APP)
    return Paths(Path(config).expanduser(), Path(data).expanduser())


# --- the UI's theme and keys, read quickly --------------------------------------------------------

SETTING_ENV = frozenset(
    """HF_ENDPOINT NOSANA_API_KEY NOSANA_API_URL NOSANA_IPFS_GATEWAY NOSANA_NETWORK
    NOSANA_NODE_DOMAIN NOSANA_PIN_JWT NOSANA_PIN_URL NOSANA_TUI_ALLOW_HTTP NOSANA_TUI_CONFIG_DIR
    NOSANA_TUI_DATA_DIR NOSANA_TUI_HEALTH_INTERVAL NOSANA_TUI_KEYS NOSANA_TUI_LOG_RETENTION
    NOSANA_TUI_NETWORK_NODE_URL NOSANA_TUI_NODE NOSANA_TUI_OLLAMA_REGISTRY NOSANA_TUI_RESOURCE_KEEP
    NOSANA_TUI_S3_ENDPOINT NOSANA_TUI_S3_REGION NOSANA_TUI_STOP_TIMEOUT NOSANA_TUI_THEME
    NOSANA_TUI_TOKEN NOSANA_WALLET""".lower().split()
)
"""Every variable the settings read (``settings.env_name`` of each; a test holds the two equal)."""

_UI_ENV = {
    "nosana_tui_theme": "theme",
    "nosana_tui_keys": "keys",
    "nosana_tui_node": "node",
    # any text is a folder (``paths`` reads them) or a token: nothing the settings could refuse
    "nosana_tui_config_dir": "",
    "nosana_tui_data_dir": "",
    "nosana_tui_token": "",
    "nosana_api_key": "",
    "nosana_pin_jwt": "",
}
_UI_FILE_KEYS = ("theme", "keys", "node")
DEFAULT_THEME = "nosana-dark"  # settings.Settings.theme


def quick_ui_settings(config_file: Path) -> tuple[str, dict[str, str]] | None:
    """The UI's theme and key remaps, read without pydantic-settings (a quarter of the UI's
    start-up of its own: bench/README.md, "Start-up"), where nothing else is set: no variable
    of the settings but the theme, keys, node, folders and tokens (a node's, the API key, the pin
    JWT); no key in CONFIG_FILE but
    ``theme``, ``[keys]`` and ``node``; each a value the settings would take unchanged. None in every
    other case: then the settings are read whole and a value that cannot be used stops the UI
    with their message, as before. tests/test_startup.py holds the two readings equal."""
    import json
    import tomllib

    env: dict[str, str] = {}
    for low, value in environment().items():
        if low not in SETTING_ENV:
            continue
        if low not in _UI_ENV:
            return None
        if _UI_ENV[low]:
            env[_UI_ENV[low]] = value
    data: dict[str, object] = {}
    try:
        if config_file.is_file():  # (the settings read a file there, and nothing else)
            with config_file.open("rb") as file:
                data = tomllib.load(file)
    except (OSError, ValueError):  # unreadable, not UTF-8, not TOML: the settings say so
        return None
    if any(key not in _UI_FILE_KEYS for key in data):
        return None
    if _plain_url(env.get("node", data.get("node", DEFAULT_NODE))) is None:
        return None
    theme = env.get("theme", data.get("theme", DEFAULT_THEME))
    if not isinstance(theme, str) or not theme.strip():
        return None
    keys: object = data.get("keys", {})
    if "keys" in env:
        try:
            keys = json.loads(env["keys"])
        except ValueError:
            return None
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
    ):
        return None
    return theme.strip(), dict(keys)
