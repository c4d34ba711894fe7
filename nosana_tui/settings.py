"""Every setting of nosana-tui, typed, in one model: read from ``config.toml`` in the config
folder, then the environment (``NOSANA_TUI_<NAME>``; the Nosana network's settings by the names
the Nosana tools use, ``NOSANA_API_KEY`` and the like: :func:`env_name`), then a command's flags,
each overriding the one before.

A value that cannot be used is a :class:`SettingError` whose message names where it came from
(the variable, or the file and key, or the flag), the value and what is accepted; the command
line prints it and exits with code 2. ``nosana-tui info`` prints every setting with its value
and its source; the README's table is :func:`table_markdown`.

The two folders (``config_dir``, ``data_dir``) come from the environment alone: the file lives
in one of them. The engine never reads settings: the node hands it the values it needs.

This module stands below every other part of nosana_tui and imports none of them (``config``
asks it for the folders), so any layer may read a setting.
"""

from __future__ import annotations

import json
import math
import re
import string
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import platformdirs
from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nosana_tui.errors import SettingError

APP = "nosana-tui"  # the folder name under the platform's config and data folders
ENV_PREFIX = "NOSANA_TUI_"
DEFAULT_NODE = "http://127.0.0.1:5001"
Source = Literal["default", "file", "env", "flag"]

# The Nosana network's hosts (shared/reference/nosana-network.md §1.1, §3.2, §4.1). Devnet has
# no gateway of its own that anyone found (§6.3): the legacy dashboard backend serves every route
# there, under /api. Pinata serves both networks.
NETWORKS: dict[str, dict[str, str]] = {
    "mainnet": {
        "api_url": "https://api.nosana.com",
        "node_domain": "node.k8s.prd.nos.ci",
        "pin_url": "https://api.pinata.cloud",
        "ipfs_gateway": "https://nosana.mypinata.cloud/ipfs",
    },
    "devnet": {
        "api_url": "https://dashboard.k8s.dev.nos.ci/api",
        "node_domain": "node.k8s.dev.nos.ci",
        "pin_url": "https://api.pinata.cloud",
        "ipfs_gateway": "https://nosana.mypinata.cloud/ipfs",
    },
}
DEFAULT_WALLET = "~/.nosana/nosana_key.json"  # where the Nosana CLI keeps its keypair

DEFAULT_LOG_RETENTION = 1 << 30
MIN_LOG_RETENTION = 1 << 20  # the node's store keeps at least this (node/store.py: same numbers)


# --- the accepted forms ---------------------------------------------------------------------------

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i?)(b?)|(b?))\s*", re.IGNORECASE)
_SIZE_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """Bytes from ``1GiB``, ``512MiB``, ``2g`` (binary, as Docker reads sizes), ``500MB``
    (decimal) or a plain number of bytes. ValueError when it is none of those."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(text)
    number, unit, binary, byte, _ = match.groups()
    if not unit:
        base, power = 1, 0
    else:
        base = 1000 if byte and not binary else 1024
        power = _SIZE_POWERS[unit.lower()]
    return int(float(number) * base**power)


def format_size(size: int) -> str:
    """``1GiB`` for 1 << 30; plain bytes when no binary unit divides it."""
    for unit, power in (("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        if size and size % (1024**power) == 0:
            return f"{size // 1024**power}{unit}"
    return str(size)


def _log_retention(value: object) -> int:
    not_a_size = "is not a size: write bytes, or a number with a unit, e.g. 1GiB, 500MiB, 2G, 800MB"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(not_a_size)
    if isinstance(value, str):
        try:
            size = parse_size(value)
        except ValueError:
            raise ValueError(not_a_size) from None
    elif not math.isfinite(value) or value < 0:
        raise ValueError(not_a_size)
    else:
        size = int(value)
    if size < MIN_LOG_RETENTION:
        raise ValueError("is less than the least the agent keeps, 1MiB")
    return size


def _seconds(least: float, more_than: bool) -> BeforeValidator:
    bound = f"more than {least:g}" if more_than else f"at least {least:g}"

    def check(value: object) -> float:
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            text = value.strip().removesuffix("s").strip()
            try:
                seconds = float(text)
            except ValueError:
                seconds = None
        if seconds is None or not math.isfinite(seconds):
            raise ValueError(f"is not a number of seconds: write e.g. 10 or 0.5 ({bound})")
        if seconds < least or (more_than and seconds == least):
            raise ValueError(f"is too short: give a number of seconds {bound}")
        return seconds

    return BeforeValidator(check)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NOT_A_DURATION = "is not a duration: write seconds, or a number with a unit, e.g. 90m, 24h, 7d"


def parse_duration(text: str) -> float:
    """``24h`` -> 86400.0; seconds when no unit (s, m, h, d, w) is given."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(NOT_A_DURATION)
    return float(found.group(1)) * _UNIT_SECONDS[(found.group(2) or "s").lower()]


def format_duration(seconds: float) -> str:
    """86400 -> ``24h``: the largest unit that divides it."""
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds / _UNIT_SECONDS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _duration(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or value < 0:
            raise ValueError(NOT_A_DURATION)
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(NOT_A_DURATION)


def _endpoint(example: str) -> BeforeValidator:
    """An http(s) base URL without its trailing slash; empty: the service's own."""

    def check(value: object) -> str:
        if isinstance(value, str) and not value.strip():
            return ""
        if not isinstance(value, str) or node_url_problem(value.strip()):
            raise ValueError(f"is not a URL: write one like {example}")
        return value.strip().rstrip("/")

    return BeforeValidator(check)


_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off", ""}


def _yes_or_no(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, int | str) else None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError("is not yes or no: write 1 or 0 (or true/false, yes/no, on/off)")


NOT_A_NODE_URL = "is not a node URL: write one like http://127.0.0.1:5001"


def node_url_problem(text: str) -> str | None:
    """Why TEXT is not a node's address (http or https, a host, a valid port), or None."""
    from urllib.parse import urlparse

    try:
        url = urlparse(text)
        ok = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
    except ValueError:  # a port that is not a number, or past 65535
        ok = False
    return None if ok else NOT_A_NODE_URL


def _node_url(value: object) -> str:
    if not isinstance(value, str) or node_url_problem(value.strip()):
        raise ValueError(NOT_A_NODE_URL)
    return value.strip()


def _text(what: str, example: str) -> BeforeValidator:
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"is not {what}: write one like {example}")
        return value.strip()

    return BeforeValidator(check)


def _network(value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in NETWORKS:
        raise ValueError(f"is not a Nosana network: write {' or '.join(NETWORKS)}")
    return text


def _url(example: str) -> BeforeValidator:
    """An http(s) base URL, without its trailing slash (paths are appended to it)."""

    def check(value: object) -> str:
        if not isinstance(value, str) or node_url_problem(value.strip()):
            raise ValueError(f"is not a URL: write one like {example}")
        return value.strip().rstrip("/")

    return BeforeValidator(check)


_DOMAIN = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*(:[0-9]{1,5})?")


def _domain(value: object) -> str:
    # a port is allowed for a stand-in of the nodes' tunnel on this machine
    text = value.strip().lower().strip(".") if isinstance(value, str) else ""
    port = text.rpartition(":")[2] if ":" in text else "443"
    if not _DOMAIN.fullmatch(text) or not 0 < int(port or 0) < 65536:
        raise ValueError(
            f"is not a domain: write one like {NETWORKS['mainnet']['node_domain']} "
            "(no scheme, no path)"
        )
    return text


NODE_URL_TEMPLATE = "https://{address}.{domain}"  # reference nosana-network.md §4.1
_TEMPLATE_FIELDS = ("address", "domain")


def _node_template(value: object) -> str:
    """A node URL template: ``{address}`` and ``{domain}`` at most, an http(s) URL once filled."""
    text = value.strip() if isinstance(value, str) else ""
    example = f"write one like {NODE_URL_TEMPLATE} or http://127.0.0.1:5123"
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
        filled = text.format(address="n" * 44, domain="node.example")
    except (ValueError, IndexError, KeyError):
        names, filled = {"?"}, ""
    if not text or not names <= set(_TEMPLATE_FIELDS) or node_url_problem(filled):
        raise ValueError(f"is not a node URL template: {example}")
    return text.rstrip("/")


def _wallet(value: object) -> Path:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ValueError(f"is not a file: write a path like {DEFAULT_WALLET}")
    return Path(str(value).strip()).expanduser()


def _token(value: object) -> object:
    if value is None or isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("is not a token: write it as text")
    return value.strip() or None


def _keys(value: object) -> dict[str, str]:
    problem = (
        'is not a table of binding id to keys: in config.toml [keys] "app.quit" = "ctrl+q"; '
        'in the environment JSON, {"app.quit": "ctrl+q"}'
    )
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(problem) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(problem)
    return dict(value)


def _platform_folder(kind: Literal["config", "data"]) -> Path:
    if kind == "config":
        return Path(platformdirs.user_config_dir(APP))
    return Path(platformdirs.user_data_dir(APP))


def _folder(kind: Literal["config", "data"]) -> BeforeValidator:
    # "~/x" is the user's, as a shell would read it (and as pydantic-settings reads the file)
    return BeforeValidator(
        lambda value: Path(value).expanduser() if value else _platform_folder(kind)
    )


# --- the model ------------------------------------------------------------------------------------


def _about(
    text: str, *, shown: str | None = None, env_only: bool = False, env: str | None = None
) -> dict[str, Any]:
    """A field's description and how the README and ``info`` show its default; ENV: the
    variable that sets it, when it is not ``NOSANA_TUI_<NAME>`` (the Nosana tools' own names)."""
    return {
        "description": text,
        "json_schema_extra": {"shown_default": shown, "env_only": env_only, "env": env},
    }


def _per_network(name: str) -> str:
    hosts = {net: found[name] for net, found in NETWORKS.items()}
    if len(set(hosts.values())) == 1:
        return f"`{next(iter(hosts.values()))}` (every network)"
    return "; ".join(f"{net}: `{host}`" for net, host in hosts.items())


class Settings(BaseSettings):
    """nosana-tui's settings. Build with :func:`load_settings`, which says where each came from."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,  # NAME= (empty) means "not set", as it always has
        extra="forbid",  # an unknown key in config.toml is a typo worth hearing about
        frozen=True,
    )

    config_dir: Annotated[Path, _folder("config")] = Field(
        default=None,  # the validator puts the platform's folder
        validate_default=True,
        **_about(
            "your config folder: config.toml, the token, nodes.json, your templates "
            "(environment only: this file lives there)",
            shown="the platform's (platformdirs)",
            env_only=True,
        ),
    )
    data_dir: Annotated[Path, _folder("data")] = Field(
        default=None,
        validate_default=True,
        **_about(
            "the data folder: the agent's database and logs, your themes, saved logs "
            "(environment only)",
            shown="the platform's (platformdirs)",
            env_only=True,
        ),
    )
    node: Annotated[str, BeforeValidator(_node_url)] = Field(
        default=DEFAULT_NODE,
        **_about(
            "the local agent's address: commands start one there when none answers "
            "(`--node URL` talks to another node instead)"
        ),
    )
    token: Annotated[SecretStr | None, BeforeValidator(_token)] = Field(
        default=None,
        **_about(
            "the token sent to a node that is not the local agent and has none saved in nodes.json",
            shown="none",
        ),
    )
    allow_http: Annotated[bool, BeforeValidator(_yes_or_no)] = Field(
        default=False,
        **_about(
            "send a node's token over plain http:// to a host off this machine (anyone on the "
            "way can read it)",
            shown="0",
        ),
    )
    health_interval: Annotated[float, _seconds(0, more_than=True)] = Field(
        default=10.0,
        **_about("seconds between an op's continuous health checks, once it is healthy"),
    )
    stop_timeout: Annotated[float, _seconds(0, more_than=False)] = Field(
        default=10.0,
        **_about("seconds a container is given to stop before it is killed"),
    )
    log_retention: Annotated[int, BeforeValidator(_log_retention)] = Field(
        default=DEFAULT_LOG_RETENTION,
        **_about(
            "log bytes the agent keeps per job, oldest lines dropped past it; bytes or "
            "1GiB, 500MiB, 2g, 800MB; at least 1MiB",
            shown="1GiB",
        ),
    )
    theme: Annotated[str, _text("a theme name", "nosana-dark")] = Field(
        default="nosana-dark",
        **_about("the UI's theme: nosana-dark, nosana-light, nosana-ansi or one of your own"),
    )
    keys: Annotated[dict[str, str], NoDecode, BeforeValidator(_keys)] = Field(
        default_factory=dict,
        **_about(
            'the UI\'s keys by binding id, e.g. `[keys]` `"app.quit" = "ctrl+q"` '
            "(in the environment, JSON)",
            shown="none",
        ),
    )

    s3_endpoint: Annotated[str, _endpoint("http://127.0.0.1:9000")] = Field(
        default="",
        **_about(
            "the S3 service the agent fetches `S3` resources from (MinIO, a mirror, a test's "
            "server); an `https://` url in the resource itself wins",
            shown="AWS's",
        ),
    )
    s3_region: Annotated[str, _text("a region", "us-east-1")] = Field(
        default="us-east-1",
        **_about("the S3 region of a resource that has no `IAM.REGION`"),
    )
    hf_endpoint: Annotated[str, _endpoint("https://huggingface.co")] = Field(
        default="https://huggingface.co",
        **_about(
            "the Hugging Face hub the agent fetches `HF` resources from (a mirror); the hub's "
            "own variable",
            env="HF_ENDPOINT",
        ),
    )
    ollama_registry: Annotated[str, _endpoint("https://registry.ollama.ai")] = Field(
        default="https://registry.ollama.ai",
        **_about(
            "the registry the agent fetches `Ollama` models of registry.ollama.ai from (a mirror)"
        ),
    )
    resource_keep: Annotated[float, BeforeValidator(_duration)] = Field(
        default=86400.0,
        **_about(
            "how long a cached resource volume is kept unused: what `node prune` removes by "
            "default; seconds, or 90m, 24h, 7d",
            shown="24h",
        ),
    )

    network: Annotated[Literal["mainnet", "devnet"], BeforeValidator(_network)] = Field(
        default="mainnet",
        **_about(
            "the Nosana network: mainnet or devnet; it chooses the defaults of the four hosts "
            "below",
            env="NOSANA_NETWORK",
        ),
    )
    api_url: Annotated[str, _url(NETWORKS["mainnet"]["api_url"])] = Field(
        default="",  # "": the network's (filled in by _network_defaults)
        **_about(
            "the Nosana API (the gateway) the API key is sent to; paths are appended to it",
            shown=_per_network("api_url"),
            env="NOSANA_API_URL",
        ),
    )
    node_domain: Annotated[str, BeforeValidator(_domain)] = Field(
        default="",
        **_about(
            "the domain under which Nosana nodes answer: `https://<node address>.<domain>`",
            shown=_per_network("node_domain"),
            env="NOSANA_NODE_DOMAIN",
        ),
    )
    network_node_url: Annotated[str, BeforeValidator(_node_template)] = Field(
        default=NODE_URL_TEMPLATE,
        **_about(
            "where a network job's node is reached: `{address}` (the node's address) and "
            "`{domain}` (`node_domain`) are filled in; a URL without them sends every node's "
            "requests there (a tunnel, or a test's node on this machine: "
            "`http://127.0.0.1:5123`)",
            shown=f"`{NODE_URL_TEMPLATE}`",
        ),
    )
    pin_url: Annotated[str, _url(NETWORKS["mainnet"]["pin_url"])] = Field(
        default="",
        **_about(
            "the IPFS pinning service (Pinata's API) job definitions are pinned to",
            shown=_per_network("pin_url"),
            env="NOSANA_PIN_URL",
        ),
    )
    ipfs_gateway: Annotated[str, _url(NETWORKS["mainnet"]["ipfs_gateway"])] = Field(
        default="",
        **_about(
            "the IPFS gateway job definitions and results are read from: `<gateway>/<cid>`",
            shown=_per_network("ipfs_gateway"),
            env="NOSANA_IPFS_GATEWAY",
        ),
    )
    api_key: Annotated[SecretStr | None, BeforeValidator(_token)] = Field(
        default=None,
        **_about(
            "your Nosana API key (`nos_…`; create one in the Nosana dashboard, under your "
            "account): jobs posted with it are paid with credits; never printed",
            shown="none",
            env="NOSANA_API_KEY",
        ),
    )
    pin_jwt: Annotated[SecretStr | None, BeforeValidator(_token)] = Field(
        default=None,
        **_about(
            "the pin service's JWT (Pinata), where it asks for one to pin job definitions; "
            "never printed",
            shown="none",
            env="NOSANA_PIN_JWT",
        ),
    )
    wallet: Annotated[Path, BeforeValidator(_wallet)] = Field(
        default=Path(DEFAULT_WALLET),
        validate_default=True,  # the validator expands ~
        **_about(
            "your Solana keypair file (a JSON array of 64 numbers, readable by you alone), "
            "as the Nosana CLI keeps it",
            shown=f"`{DEFAULT_WALLET}`",
            env="NOSANA_WALLET",
        ),
    )

    _sources: dict[str, Source] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _network_defaults(cls, data: Any) -> Any:
        """The hosts not given take the chosen network's (a network that is not one is told
        by its own field; the hosts then take mainnet's, so that it is the only error)."""
        if not isinstance(data, dict):
            return data
        network = data.get("network", "mainnet")
        hosts = NETWORKS.get(network.strip().lower() if isinstance(network, str) else "")
        filled = dict(data)
        for name, host in (hosts or NETWORKS["mainnet"]).items():
            if not filled.get(name):  # absent, or empty: not set, as NAME= in the environment
                filled[name] = host
        return filled

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # first wins: flags (passed as arguments), the environment, then config.toml
        file = _config_file.get() or ConfigFile(settings_cls, None)
        return init_settings, Environment(settings_cls), file

    def source(self, name: str) -> Source:
        """Where the value of setting NAME came from."""
        return self._sources.get(name, "default")


_config_file: ContextVar[ConfigFile | None] = ContextVar("nosana_tui_config_file", default=None)
"""The file :func:`load_settings` read, for the model's sources (read once, for both)."""


class Environment(EnvSettingsSource):
    """The environment: ``NOSANA_TUI_<NAME>``, or the variable a setting names itself
    (:func:`env_name`), that one alone."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        own = _own_env(field)
        if own is None:
            return super().get_field_value(field, field_name)
        name = own if self.case_sensitive else own.lower()
        return self.env_vars.get(name), field_name, False


def _own_env(field: FieldInfo) -> str | None:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    env = extra.get("env")
    return env if isinstance(env, str) else None


class ConfigFile(TomlConfigSettingsSource):
    """``config.toml``: the settings at its top level, by name. A file that cannot be read or
    is not TOML is a :class:`SettingError` naming it, as is a folder set from inside it."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        self.path = path  # None: no file (Settings() built directly)
        super().__init__(settings_cls, toml_file=path)
        for name in ENV_ONLY:
            if name in self.toml_data:
                raise SettingError(
                    f"{self.path}: {name} cannot be set in this file; set {env_name(name)} "
                    "in the environment"
                )

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        try:
            return super()._read_file(file_path)
        except tomllib.TOMLDecodeError as err:
            raise SettingError(f"{file_path}: not valid TOML: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise SettingError(f"{file_path}: cannot be read: {err}") from None


ENV_ONLY = tuple(
    name
    for name, field in Settings.model_fields.items()
    if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("env_only")
)


SECRETS = tuple(
    name
    for name, field in Settings.model_fields.items()
    if field.annotation is SecretStr or SecretStr in get_args(field.annotation)
)
"""Settings never shown: ``***`` in ``info``, in errors and in the agent's log."""


def env_name(name: str) -> str:
    """The environment variable of setting NAME: its own (``NOSANA_API_KEY``), else
    ``NOSANA_TUI_<NAME>``."""
    return _own_env(Settings.model_fields[name]) or f"{ENV_PREFIX}{name.upper()}"


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


# --- loading --------------------------------------------------------------------------------------


def load_settings(config_file: Path | None, flags: dict[str, object] | None = None) -> Settings:
    """The settings: CONFIG_FILE (``config.Paths.config_file``; None: no file), overridden by
    the environment, overridden by FLAGS (setting name -> the flag's value; None: not given).
    SettingError when a value cannot be used."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    file = ConfigFile(Settings, config_file)
    env = _env_values()
    reset = _config_file.set(file)
    try:
        try:
            settings = Settings(**given)  # type: ignore[arg-type]  # names checked by the model
        except ValidationError as err:
            raise SettingError(_explain(err, given, env, file)) from None
    finally:
        _config_file.reset(reset)
    for name in Settings.model_fields:
        if name in given:
            settings._sources[name] = "flag"
        elif name in env:
            settings._sources[name] = "env"
        elif name in file.toml_data:
            settings._sources[name] = "file"
    return settings


def _env_values() -> dict[str, Any]:
    return dict(Environment(Settings)())


def read_folders() -> tuple[Path, Path]:
    """The config and data folders, from the environment alone (no file is read: they say
    where it is); ``config.paths()`` names what lies in them."""
    env = _env_values()
    config, data = env.get("config_dir"), env.get("data_dir")
    return (
        Path(config).expanduser() if config else _platform_folder("config"),
        Path(data).expanduser() if data else _platform_folder("data"),
    )


def _explain(
    err: ValidationError, flags: dict[str, Any], env: dict[str, Any], file: ConfigFile
) -> str:
    lines = []
    for problem in err.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        if name in flags:
            value = flags[name]
            where = f"{flag_name(name)} {_shown(name, value)}"
        elif name in env:
            value = env[name]
            where = f"{env_name(name)}={_shown(name, value)}"
        elif name in file.toml_data:
            value = file.toml_data[name]
            where = f"{file.path}: {name} = {_shown(name, value)}"
        else:
            where = name
        if problem["type"] == "extra_forbidden":
            known = ", ".join(n for n in Settings.model_fields if n not in ENV_ONLY)
            lines.append(f"{file.path}: {name!r} is not a setting; the settings are: {known}")
            continue
        cause = (problem.get("ctx") or {}).get("error")
        says = str(cause) if isinstance(cause, ValueError) else problem["msg"]
        lines.append(f"{where} {says}")
    return "\n  ".join(lines)  # one line each, under the first


def _shown(name: str, value: object) -> str:
    return "'***'" if name in SECRETS else repr(value)


# --- what ``info`` and the README show ------------------------------------------------------------


def shown_value(settings: Settings, name: str) -> str:
    """A setting's value as a person reads it; secrets masked."""
    value = getattr(settings, name)
    if isinstance(value, SecretStr):
        return "***"
    if value is None:
        return "none"
    if name == "log_retention":
        return format_size(value)
    if name == "resource_keep":
        return format_duration(value)
    if value == "" and name == "s3_endpoint":
        return "AWS's"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return json.dumps(value) if value else "none"
    return str(value)


def shown_default(name: str) -> str:
    field = Settings.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("shown_default"):
        return str(extra["shown_default"])
    default = field.get_default(call_default_factory=True)
    return f"{default:g}" if isinstance(default, float) else str(default)


def table_markdown() -> str:
    """The README's settings table: config.toml key, environment variable, default, meaning."""
    rows = [
        "| setting (config.toml) | environment | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        key = "—" if name in ENV_ONLY else f"`{name}`"
        rows.append(f"| {key} | `{env_name(name)}` | {shown_default(name)} | {field.description} |")
    return "\n".join(rows)
