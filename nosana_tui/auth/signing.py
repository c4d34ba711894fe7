"""The header a Nosana node checks: ``authorization: <message>:<signature>[:<time>]``.

The form is ``@nosana/authorization``'s (2.1.8, ``generate.js`` and ``validate.js``; reference
nosana-network.md §1.2, §2.1, §2.3):

- the signature is ed25519 over the UTF-8 bytes of MESSAGE alone, by the wallet that posted the
  job (its ``project``), written in base58;
- the time, when there is one, is Unix milliseconds and is not signed; a header with a time
  lasts EXPIRY seconds from it (the package's default is 300; a node's REST routes allow the
  job's timeout), a header without one never expires;
- any message is accepted; the kit signs ``NosanaApiAuthentication`` for a node.

We sign with the time by default, so a header that leaks stops working. We verify as the
package does, and refuse, where it lets through, a time that is not a number (it reads that as
"never expires") or lies ahead of our clock by more than ``MAX_SKEW`` (a header that would last
for ever), and extra ``:`` parts (it ignores them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import base58
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from nosana_tui.auth.address import PUBLIC_KEY_BYTES, address_of, public_key_of

HEADER = (
    "authorization"  # the node reads req.headers["authorization"], and a WS handshake's "header"
)
SEPARATOR = ":"
NODE_MESSAGE = "NosanaApiAuthentication"  # the kit's NOSANA_API_AUTH_MESSAGE
DEFAULT_EXPIRY = 300.0  # seconds, as the package's validate()
MAX_SKEW = 60.0  # seconds a header's time may lie ahead of ours (clocks differ)
SIGNATURE_BYTES = 64


class Reason(StrEnum):
    """Why a header is refused: the agent answers 401 with it."""

    MALFORMED = "malformed"  # not message:signature[:time], or parts that cannot be read
    EXPIRED = "expired"
    WRONG_MESSAGE = "wrong_message"  # a message other than the one the verifier asked for
    WRONG_KEY = "wrong_key"  # a valid signature, but not by this address, or not of this message


@dataclass(frozen=True)
class Refusal:
    """A refused header: REASON for a program, DETAIL for a person."""

    reason: Reason
    detail: str

    def __str__(self) -> str:
        return self.detail


def sign(
    message: str,
    secret_key: bytes,
    *,
    include_time: bool = True,
    now_ms: int | None = None,
) -> str:
    """The header value signing MESSAGE with SECRET_KEY (64 bytes as Solana keeps it, or the
    32-byte seed); with the time (NOW_MS, default the clock) unless INCLUDE_TIME is false."""
    if not message or SEPARATOR in message:
        # validate() splits on ":" and would check the first part alone: it could never pass
        raise ValueError(f"a message to sign must be non-empty text without {SEPARATOR!r}")
    if len(secret_key) not in (PUBLIC_KEY_BYTES, 2 * PUBLIC_KEY_BYTES):
        raise ValueError(f"a secret key has 64 bytes (or a 32-byte seed), not {len(secret_key)}")
    signature = SigningKey(secret_key[:PUBLIC_KEY_BYTES]).sign(message.encode("utf-8")).signature
    parts = [message, base58.b58encode(signature).decode("ascii")]
    if include_time:
        parts.append(str(_now_ms() if now_ms is None else now_ms))
    return SEPARATOR.join(parts)


def verify(
    header: str | None,
    address: str | bytes,
    *,
    expiry: float = DEFAULT_EXPIRY,
    message: str | None = None,
    require_time: bool = False,
    now_ms: int | None = None,
) -> Refusal | None:
    """None when HEADER is signed by ADDRESS (a base58 Solana address, or its 32-byte public
    key) and is still fresh, else why not. MESSAGE: the one message accepted (default: any);
    REQUIRE_TIME: refuse a header without a time (one that never expires).

    ValueError when ADDRESS is not an address: that is the caller's fault, not the header's."""
    if isinstance(address, bytes):
        address = address_of(address)  # ValueError unless 32 bytes
    key = VerifyKey(public_key_of(address))
    if not header:
        return Refusal(Reason.MALFORMED, f"no {HEADER} header: sign one as message:signature:time")
    parts = header.split(SEPARATOR)
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        return Refusal(
            Reason.MALFORMED, f"the {HEADER} header is not message:signature[:time] in base58"
        )
    signed, signature_text = parts[0], parts[1]
    if message is not None and signed != message:
        return Refusal(Reason.WRONG_MESSAGE, f"the signed message is not {message!r}")
    if len(parts) == 3:
        late = _lateness(parts[2], expiry, _now_ms() if now_ms is None else now_ms)
        if late is not None:
            return late
    elif require_time:
        return Refusal(Reason.MALFORMED, "the header has no time: sign it with the time included")
    try:
        signature = base58.b58decode(signature_text)
    except ValueError:
        return Refusal(Reason.MALFORMED, "the signature is not base58")
    if len(signature) != SIGNATURE_BYTES:
        return Refusal(
            Reason.MALFORMED,
            f"the signature has {len(signature)} bytes, not the {SIGNATURE_BYTES} of ed25519",
        )
    try:
        key.verify(signed.encode("utf-8"), signature)
    except BadSignatureError:
        return Refusal(Reason.WRONG_KEY, f"the message is not signed by {address}")
    return None


def _lateness(text: str, expiry: float, now_ms: int) -> Refusal | None:
    if not (text.isascii() and text.isdigit()):
        return Refusal(Reason.MALFORMED, "the header's time is not Unix milliseconds")
    age = (now_ms - int(text)) / 1000
    if age >= expiry:  # >=, as the package
        return Refusal(
            Reason.EXPIRED, f"the header expired: signed {age:.0f} s ago, good for {expiry:g} s"
        )
    if -age > MAX_SKEW:
        return Refusal(
            Reason.MALFORMED,
            f"the header's time is {-age:.0f} s ahead of this machine's clock",
        )
    return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
