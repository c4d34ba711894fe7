"""Your credentials for the Nosana network: the API key (jobs paid with credits) and the wallet
(a Solana keypair file, as ``solana-keygen`` and the Nosana CLI write it: a JSON array of the
64 bytes of the secret key, the 32-byte seed then the 32-byte public key).

Each problem a person can cause is a :class:`CredentialError` whose message says what to do.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import SigningKey

from nosana_tui.auth.address import PUBLIC_KEY_BYTES, address_of
from nosana_tui.settings import DEFAULT_WALLET, Settings, env_name

SECRET_KEY_BYTES = 64
_MOST_WALLET_BYTES = 64 * 1024  # a keypair file is ~250 bytes; anything this big is not one


class CredentialError(Exception):
    """A credential that is missing or cannot be used; the message says how to set it right."""


def api_key(settings: Settings) -> str:
    """The Nosana API key, sent as ``Authorization: Bearer <key>`` (reference §1.2)."""
    key = settings.api_key.get_secret_value().strip() if settings.api_key else ""
    if not key:
        raise CredentialError(
            f'no Nosana API key: set {env_name("api_key")}=nos_..., or api_key = "nos_..." in '
            "config.toml (`nosana-tui info` shows where it is); create a key in the Nosana "
            "dashboard, under your account"
        )
    return key


@dataclass(frozen=True)
class Wallet:
    """A Solana keypair, read from PATH. The secret key never appears in a repr."""

    path: Path
    secret_key: bytes = field(repr=False)  # 64 bytes: the seed, then the public key

    @property
    def public_key(self) -> bytes:
        return self.secret_key[PUBLIC_KEY_BYTES:]

    @property
    def address(self) -> str:
        return address_of(self.public_key)


def wallet(settings: Settings) -> Wallet:
    """The wallet the settings name (``wallet``, ``NOSANA_WALLET``)."""
    return read_wallet(settings.wallet)


def read_wallet(path: Path) -> Wallet:
    """The keypair in PATH. CredentialError when it is missing, readable by others than you
    (as ssh refuses a private key), or not a Solana keypair."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise CredentialError(f"{path} is not a file: {_WHAT_A_WALLET_IS}")
            if os.name == "posix" and mode & 0o077:
                raise CredentialError(
                    f"permissions {stat.S_IMODE(mode):04o} for {path} are too open: it holds "
                    f"your wallet's secret key, which no one else may read; chmod 600 {path}"
                )
            raw = file.read(_MOST_WALLET_BYTES + 1)
    except FileNotFoundError:
        raise CredentialError(
            f'no wallet at {path}: set {env_name("wallet")}, or wallet = "..." in config.toml, '
            f"to your Solana keypair file (the Nosana CLI keeps it at {DEFAULT_WALLET})"
        ) from None
    except IsADirectoryError:
        raise CredentialError(f"{path} is a folder: {_WHAT_A_WALLET_IS}") from None
    except OSError as err:
        raise CredentialError(f"{path}: cannot be read: {err.strerror or err}") from None
    return Wallet(path=path, secret_key=_keypair(path, raw))


_WHAT_A_WALLET_IS = (
    "a wallet is a Solana keypair file, a JSON array of 64 numbers from 0 to 255 "
    "(as solana-keygen and the Nosana CLI write it)"
)


def _keypair(path: Path, raw: bytes) -> bytes:
    garbled = f"{path} is not a Solana keypair: {_WHAT_A_WALLET_IS}"
    if len(raw) > _MOST_WALLET_BYTES:
        raise CredentialError(garbled)
    try:
        numbers = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CredentialError(garbled) from None
    if (
        not isinstance(numbers, list)
        or len(numbers) != SECRET_KEY_BYTES
        or not all(type(n) is int and 0 <= n <= 255 for n in numbers)
    ):
        raise CredentialError(garbled)
    secret = bytes(numbers)
    derived = bytes(SigningKey(secret[:PUBLIC_KEY_BYTES]).verify_key)
    if derived != secret[PUBLIC_KEY_BYTES:]:
        raise CredentialError(
            f"{path} is not a Solana keypair: its last 32 numbers are not the public key of "
            "its first 32 (the file is damaged, or was put together by hand)"
        )
    return secret
