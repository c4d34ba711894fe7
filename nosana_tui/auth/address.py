"""Solana addresses: the base58 of a 32-byte ed25519 public key."""

from __future__ import annotations

import base58

PUBLIC_KEY_BYTES = 32


def address_of(public_key: bytes) -> str:
    """The address of a 32-byte public key."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError(f"a public key has {PUBLIC_KEY_BYTES} bytes, not {len(public_key)}")
    return base58.b58encode(public_key).decode("ascii")


def public_key_of(address: str) -> bytes:
    """The 32-byte public key of ADDRESS; ValueError when it is not a Solana address."""
    try:
        key = base58.b58decode(address.strip())
    except ValueError:
        raise ValueError(f"{address!r} is not a Solana address: it is not base58") from None
    if len(key) != PUBLIC_KEY_BYTES:
        raise ValueError(
            f"{address!r} is not a Solana address: it holds {len(key)} bytes, "
            f"not {PUBLIC_KEY_BYTES}"
        )
    return key
