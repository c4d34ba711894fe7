"""Registry credentials of an op (``args.authentication.docker``), as the Nosana node uses them.

An op that names credentials has its image pulled with them, every time (a copy already on the
engine proves nothing about the password), and the image is removed when the op ends: what a
job pulled with its own credentials is not left for the next job to run without them. The
credentials are checked with the registry when the job starts, so a wrong password fails the op
before any container of the job is made. An op without credentials pulls, when its image is
missing, with what the user's Docker configuration holds (``docker login``, credential helpers).

Passwords live in memory only: the copy of the definition kept on disk has them masked, so an
op that must be started again after the agent restarted cannot pull, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nosana_tui.jobformat import model as m
from nosana_tui.jobformat.secrets import MASK

DOCKER_HUB = "https://index.docker.io/v1/"
"""The address Docker gives Docker Hub's credentials (``docker login`` with no server)."""

LOST = (
    "its registry password (authentication.docker) was kept in memory only and is gone since "
    "the agent restarted: submit the job again"
)


class CredentialsLost(Exception):
    """The op's registry password was masked on disk and the agent has restarted since."""


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry; the password is never part of the repr."""

    server: str
    username: str = ""
    password: str = field(default="", repr=False)
    email: str = ""

    def describe(self) -> str:
        """For logs and messages: where and who, never the password."""
        return f"{self.username or 'no user'} at {self.server}"


def registry_of(image: str) -> str:
    """The registry an image reference names, Docker's way: a first path part with a dot or a
    colon in it (or ``localhost``) is a registry host; anything else is on Docker Hub."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def credentials_of(op: m.RunOperation, image: str) -> RegistryAuth | None:
    """The op's own registry credentials for IMAGE, or None when it names none (its image then
    comes with the user's Docker credentials). Raises CredentialsLost after an agent restart."""
    auth = op.args.authentication.docker if op.args.authentication else None
    if auth is None or not (auth.username or auth.password):
        return None
    if auth.password == MASK:
        raise CredentialsLost(LOST)
    return RegistryAuth(
        server=auth.server or registry_of(image),
        username=auth.username or "",
        password=auth.password or "",
        email=auth.email or "",
    )


def names_credentials(op: m.RunOperation) -> bool:
    """Whether the op pulls with credentials of its own (whether or not they are still known)."""
    auth = op.args.authentication.docker if op.args.authentication else None
    return auth is not None and bool(auth.username or auth.password)


def without_registry_passwords(data: Any) -> Any:
    """A copy of a job definition with every ``authentication.docker.password`` masked: what the
    agent may keep on disk."""
    if isinstance(data, list):
        return [without_registry_passwords(v) for v in data]
    if not isinstance(data, dict):
        return data
    out: dict[Any, Any] = {}
    for key, value in data.items():
        if key == "authentication" and isinstance(value, dict):
            docker = value.get("docker")
            if isinstance(docker, dict) and docker.get("password"):
                value = {**value, "docker": {**docker, "password": MASK}}
            out[key] = value
        else:
            out[key] = without_registry_passwords(value)
    return out
