"""Who may call the agent: the holder of its token (the default), or, with
``node serve --auth nosana``, the wallet that posted the job, as a Nosana node decides it.

A Nosana node accepts only the job owner's signature: the ``authorization`` header
``<message>:<base58 ed25519 signature>[:<unix ms>]`` signed by the job's ``project`` (reference
nosana-network.md §2.1, §2.3; nosana.md §3). The check itself is ``auth.signing.verify``: this
module only decides which address must have signed what.

Rules of the ``nosana`` mode:

- ``GET /`` and ``GET /node/info`` are public, as on a node;
- a job's routes (``/job/{job}/...``, ``/api/jobs/{job}...``) and its websockets (``/flog``,
  ``/log``) need the signature of the job's poster, fresh (``EXPIRY``); the token no longer
  passes them;
- a submission (``POST /api/jobs``, our stand-in for posting on chain) names its poster in
  ``x-nosana-poster`` and carries that address's signature: the agent records the address with
  the job;
- what belongs to no job (the job list, ``/api/gpus``, the OpenAPI document) stays the
  operator's: the token.

A refusal is 401 with ``{"error": why, "reason": ...}``: ``expired``, ``wrong_key``,
``wrong_message``, ``malformed`` (``auth.signing.Reason``), ``no_poster`` (a job submitted
without one) or ``token``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from nosana_tui.auth.address import public_key_of
from nosana_tui.auth.signing import DEFAULT_EXPIRY, verify
from nosana_tui.node.agent import Agent, AgentError

AuthMode = Literal["token", "nosana"]
AUTH_MODES: tuple[AuthMode, ...] = ("token", "nosana")

POSTER_HEADER = "x-nosana-poster"
EXPIRY = DEFAULT_EXPIRY
"""Seconds a timestamped header lasts. A node allows the job's on-chain timeout on its REST
routes and 300 s on its websockets; our jobs have no on-chain timeout, so 300 s for both."""

TOKEN_REQUIRED = "a valid token is required (Authorization: Bearer <token>)"
PUBLIC = frozenset({"/", "/node/info"})


@dataclass(frozen=True)
class Denied:
    """A request refused: the status to answer, why (for a person) and REASON (for a program)."""

    status: int
    error: str
    reason: str


class Access:
    def __init__(self, agent: Agent, token: str, mode: AuthMode = "token") -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"auth mode {mode!r}: give one of {', '.join(AUTH_MODES)}")
        self.agent = agent
        self.token = token.encode()
        self.mode: AuthMode = mode

    def token_ok(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            credentials.strip().encode(), self.token
        )

    def _token(self, authorization: str | None) -> Denied | None:
        return None if self.token_ok(authorization) else Denied(401, TOKEN_REQUIRED, "token")

    def http(
        self, method: str, path: str, authorization: str | None, poster: str | None
    ) -> Denied | None:
        """None when the request may go on, else why not (before its body is read)."""
        if self.mode == "token":
            return self._token(authorization)
        if method in ("GET", "HEAD") and path in PUBLIC:
            return None
        job = job_of(path)
        if job is not None:
            return self.owner(authorization, job)
        if method == "POST" and path.rstrip("/") == "/api/jobs":
            return self.submitter(authorization, poster)
        return self._token(authorization)

    def owner(self, authorization: str | None, job_id: str) -> Denied | None:
        """The job's poster signed AUTHORIZATION (token mode: it is the token)."""
        if self.mode == "token":
            return self._token(authorization)
        try:
            view = self.agent.job(job_id)
        except AgentError as err:
            return Denied(err.status, str(err), "unknown_job")
        if not view.poster:
            return Denied(
                401,
                f"job {view.id} has no poster on record (it was submitted without a signature), "
                "so no signature can reach it",
                "no_poster",
            )
        refusal = verify(authorization, view.poster, expiry=EXPIRY)
        if refusal is None:
            return None
        return Denied(401, f"{refusal.detail} (job {view.id})", str(refusal.reason))

    def submitter(self, authorization: str | None, poster: str | None) -> Denied | None:
        if not poster:
            return Denied(
                401,
                f"a submission names its poster's address in {POSTER_HEADER} and is signed by it",
                "malformed",
            )
        try:
            public_key_of(poster)
        except ValueError as err:
            return Denied(401, f"{POSTER_HEADER}: {err}", "malformed")
        refusal = verify(authorization, poster, expiry=EXPIRY)
        return None if refusal is None else Denied(401, refusal.detail, str(refusal.reason))


def job_of(path: str) -> str | None:
    """The job a route is about (``/job/{job}/...``, ``/api/jobs/{job}...``), else None."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[1] == "job" and parts[2]:
        return parts[2]
    if len(parts) >= 4 and parts[1] == "api" and parts[2] == "jobs" and parts[3]:
        return parts[3]
    return None
