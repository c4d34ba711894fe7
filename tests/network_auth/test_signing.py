"""The node's authorization header, signed and verified here: every reason a header is refused,
with the message the agent answers 401 with. (test_network_agreement.py checks the same form
against the network's own code.)"""

from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from nosana_tui.auth.address import address_of
from nosana_tui.auth.signing import (
    DEFAULT_EXPIRY,
    HEADER,
    NODE_MESSAGE,
    Reason,
    Refusal,
    sign,
    verify,
)

KEY = SigningKey(bytes([1]) * 32)
SECRET = bytes(KEY) + bytes(KEY.verify_key)
ADDRESS = address_of(bytes(KEY.verify_key))
OTHER = address_of(bytes(SigningKey(bytes([2]) * 32).verify_key))
NOW = 1_717_000_000_000


def _refusal(header: str | None, **options: object) -> Refusal:
    refused = verify(header, ADDRESS, now_ms=NOW, **options)  # type: ignore[arg-type]
    assert refused is not None, header
    return refused


def test_the_form_is_message_signature_time() -> None:
    header = sign(NODE_MESSAGE, SECRET, now_ms=NOW)
    message, signature, time = header.split(":")
    assert (message, time) == (NODE_MESSAGE, str(NOW))
    assert len(signature) in (87, 88)  # 64 bytes in base58
    assert HEADER == "authorization" and DEFAULT_EXPIRY == 300
    assert verify(header, ADDRESS, now_ms=NOW) is None


def test_without_the_time_and_with_the_seed_alone() -> None:
    header = sign("nosana-auth", SECRET[:32], include_time=False)
    assert header.count(":") == 1 and header == sign("nosana-auth", SECRET, include_time=False)
    assert verify(header, ADDRESS) is None
    assert _refusal(header, require_time=True).detail == (
        "the header has no time: sign it with the time included"
    )


def test_a_header_lasts_expiry_seconds() -> None:
    header = sign(NODE_MESSAGE, SECRET, now_ms=NOW - 299_999)
    assert verify(header, ADDRESS, now_ms=NOW) is None
    old = sign(NODE_MESSAGE, SECRET, now_ms=NOW - 300_000)
    assert _refusal(old) == Refusal(
        Reason.EXPIRED, "the header expired: signed 300 s ago, good for 300 s"
    )
    assert verify(old, ADDRESS, now_ms=NOW, expiry=3600) is None


def test_a_header_from_the_future_is_refused_past_a_minute() -> None:
    assert verify(sign("m", SECRET, now_ms=NOW + 60_000), ADDRESS, now_ms=NOW) is None
    refused = _refusal(sign("m", SECRET, now_ms=NOW + 61_000))
    assert refused == Refusal(
        Reason.MALFORMED, "the header's time is 61 s ahead of this machine's clock"
    )


def test_another_key_or_message() -> None:
    header = sign(NODE_MESSAGE, SECRET, now_ms=NOW)
    refused = verify(header, OTHER, now_ms=NOW)
    assert refused == Refusal(Reason.WRONG_KEY, f"the message is not signed by {OTHER}")
    assert _refusal(header, message="nosana-auth") == Refusal(
        Reason.WRONG_MESSAGE, "the signed message is not 'nosana-auth'"
    )
    forged = header.replace(NODE_MESSAGE, "NosanaApiAuthenticatioN", 1)
    assert _refusal(forged).reason is Reason.WRONG_KEY


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "no authorization header: sign one as message:signature:time"),
        ("", "no authorization header"),
        ("justamessage", "the authorization header is not message:signature[:time] in base58"),
        ("m:", "is not message:signature[:time]"),
        (":sig", "is not message:signature[:time]"),
        ("m:sig:1:2", "is not message:signature[:time]"),
        ("m:0OIl", "the signature is not base58"),
        ("m:abc", "the signature has 3 bytes, not the 64 of ed25519"),
        (f"m:abc:{NOW}x", "the header's time is not Unix milliseconds"),
        ("m:abc:-5", "the header's time is not Unix milliseconds"),
        ("m:abc:١٢", "the header's time is not Unix milliseconds"),  # digits, not ASCII
    ],
)
def test_a_malformed_header_says_what_is_wrong(header: str | None, detail: str) -> None:
    refused = _refusal(header)
    assert refused.reason is Reason.MALFORMED and detail in refused.detail
    assert str(refused) == refused.detail


@pytest.mark.parametrize("message", ["", "a:b"])
def test_a_message_that_could_never_verify_is_not_signed(message: str) -> None:
    with pytest.raises(ValueError, match="non-empty text without ':'"):
        sign(message, SECRET)


def test_a_bad_key_is_the_callers_error() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        sign("m", b"short")
    with pytest.raises(ValueError, match="is not a Solana address"):
        verify("m:abc", "not-an-address")
    with pytest.raises(ValueError, match="32 bytes"):
        verify("m:abc", b"\0" * 31)
