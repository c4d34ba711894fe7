"""Our authorization header against the network's own code, both ways.

The network's code is ``@nosana/authorization``, pinned at 2.1.8 in ``package.json`` and
``package-lock.json`` beside this file (the only version the npm registry serves; the one the
reference read, nosana-network.md §0). ``authorization.mjs`` puts our requests to it in one node
process. What must hold:

- a header we sign, the package validates with our address, and refuses with another key;
- a header the package generates, from a test keypair, we verify; with the time or without;
- the signature is the same bytes (ed25519 is deterministic), so the header is too, but the time;
- what the package refuses (expired, another key, another message, no signature) we refuse too,
  for the same reason; where we are stricter, it is on purpose, and tested as such.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from nosana_tui.auth.address import address_of
from nosana_tui.auth.signing import NODE_MESSAGE, Reason, sign, verify
from tests.npm import installed_version, npm_ci, pinned_version

HERE = Path(__file__).resolve().parent
PACKAGE = "@nosana/authorization"
PINNED = "2.1.8"


class Network:
    """The package behind one node process: ``ask`` sends a request, returns the answer."""

    def __init__(self, node: str) -> None:
        self._proc = subprocess.Popen(
            [node, str(HERE / "authorization.mjs")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, self._proc.stderr.read() if self._proc.stderr else "node said nothing"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def generate(self, message: str, secret: bytes, *, include_time: bool) -> str:
        header = self.ask(
            do="generate", message=message, secretKey=list(secret), includeTime=include_time
        )["header"]
        assert isinstance(header, str)
        return header

    def validate(self, header: str, public_key: bytes, **options: Any) -> dict[str, Any]:
        return self.ask(do="validate", header=header, publicKey=list(public_key), **options)

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


@pytest.fixture(scope="module")
def network() -> Iterator[Network]:
    found = Network(npm_ci(HERE, PACKAGE))
    yield found
    found.close()


def _keypair(seed: int) -> tuple[bytes, bytes]:
    """A test keypair as Solana keeps it (seed then public key), and its public key."""
    signing = SigningKey(bytes([seed]) * 32)
    public = bytes(signing.verify_key)
    return bytes(signing) + public, public


OWNER, OWNER_KEY = _keypair(7)
STRANGER, STRANGER_KEY = _keypair(9)
MESSAGES = [NODE_MESSAGE, "nosana-auth", "DEPLOYMENT_HEADER", "héllo wörld ✓", "x"]


def test_the_pinned_version_is_the_one_installed(network: Network) -> None:
    assert installed_version(HERE, PACKAGE) == pinned_version(HERE, PACKAGE) == PINNED


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("include_time", [True, False])
def test_the_package_accepts_what_we_sign(
    network: Network, message: str, include_time: bool
) -> None:
    header = sign(message, OWNER, include_time=include_time)
    assert network.validate(header, OWNER_KEY) == {"valid": True}
    assert network.validate(header, STRANGER_KEY) == {"valid": False}


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("include_time", [True, False])
def test_we_accept_what_the_package_signs(
    network: Network, message: str, include_time: bool
) -> None:
    header = network.generate(message, OWNER, include_time=include_time)
    assert len(header.split(":")) == (3 if include_time else 2)
    assert verify(header, address_of(OWNER_KEY)) is None
    assert verify(header, OWNER_KEY, message=message) is None
    refused = verify(header, address_of(STRANGER_KEY))
    assert refused is not None and refused.reason is Reason.WRONG_KEY


@pytest.mark.parametrize("message", MESSAGES)
def test_the_header_is_the_same_text_but_the_time(network: Network, message: str) -> None:
    assert sign(message, OWNER, include_time=False) == network.generate(
        message, OWNER, include_time=False
    )
    ours = sign(message, OWNER).rsplit(":", 1)
    theirs = network.generate(message, OWNER, include_time=True).rsplit(":", 1)
    assert ours[0] == theirs[0]
    assert abs(int(ours[1]) - int(theirs[1])) < 60_000  # both Unix milliseconds


def test_the_header_is_named_as_the_node_reads_it(network: Network) -> None:
    """The package sends ``Authorization``; the node reads ``authorization`` (HTTP names are
    not case-sensitive), and validateHeaders looks there by default."""
    sent = network.ask(
        do="generateHeaders", message=NODE_MESSAGE, secretKey=list(OWNER), includeTime=True
    )["headers"]
    assert list(sent) == ["authorization"]  # fetch's Headers keeps names in lower case
    header = sign(NODE_MESSAGE, OWNER)
    answer = network.ask(
        do="validateHeaders", headers={"authorization": header}, publicKey=list(OWNER_KEY)
    )
    assert answer == {"valid": True}
    assert verify(sent["authorization"], OWNER_KEY) is None


def test_an_old_header_is_expired_for_both(network: Network) -> None:
    ten_minutes_ago = sign(NODE_MESSAGE, OWNER, now_ms=_now_ms() - 600_000)
    assert network.validate(ten_minutes_ago, OWNER_KEY) == {"error": "Authorization has expired."}
    refused = verify(ten_minutes_ago, OWNER_KEY)
    assert refused is not None and refused.reason is Reason.EXPIRED
    # a node's REST routes allow the job's timeout instead of 300 s
    assert network.validate(ten_minutes_ago, OWNER_KEY, expiry=3600) == {"valid": True}
    assert verify(ten_minutes_ago, OWNER_KEY, expiry=3600) is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("", Reason.MALFORMED),
        (NODE_MESSAGE, Reason.MALFORMED),
        (f"{NODE_MESSAGE}:", Reason.MALFORMED),
        (f":{sign('x', OWNER, include_time=False).split(':')[1]}", Reason.MALFORMED),
    ],
)
def test_what_the_package_calls_invalid_we_call_malformed(
    network: Network, header: str, reason: Reason
) -> None:
    assert network.validate(header, OWNER_KEY) == {"error": "Invalid signature."}
    refused = verify(header, OWNER_KEY)
    assert refused is not None and refused.reason is reason


def test_a_signature_of_another_message_fails_both(network: Network) -> None:
    signature = sign("something else", OWNER, include_time=False).split(":")[1]
    header = f"{NODE_MESSAGE}:{signature}"
    assert network.validate(header, OWNER_KEY) == {"valid": False}
    refused = verify(header, OWNER_KEY)
    assert refused is not None and refused.reason is Reason.WRONG_KEY


@pytest.mark.parametrize(
    ("tail", "why"),
    [
        (lambda: ":soon", "the header's time is not Unix milliseconds"),  # theirs: never expires
        (lambda: f":{10**15}", "ahead of this machine's clock"),  # theirs: lasts for ever
        (lambda: f":{_now_ms()}:x", "is not message:signature[:time]"),  # theirs: ignores ":x"
    ],
    ids=["time-not-a-number", "time-far-ahead", "extra-part"],
)
def test_where_we_are_stricter_than_the_package(
    network: Network, tail: Callable[[], str], why: str
) -> None:
    header = sign(NODE_MESSAGE, OWNER, include_time=False) + tail()
    assert network.validate(header, OWNER_KEY) == {"valid": True}
    refused = verify(header, OWNER_KEY)
    assert refused is not None and refused.reason is Reason.MALFORMED and why in refused.detail


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
