"""The API key and the wallet: each problem a person can cause has a message that says what to
do, and the secret is never shown."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from nosana_tui.auth.address import address_of, public_key_of
from nosana_tui.auth.keys import CredentialError, Wallet, api_key, read_wallet, wallet
from nosana_tui.settings import Settings, load_settings

SEED = bytes(range(32))
PUBLIC = bytes(SigningKey(SEED).verify_key)
KEYPAIR = list(SEED + PUBLIC)


@pytest.fixture(autouse=True)
def _no_credentials_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOSANA_API_KEY", "NOSANA_WALLET", "NOSANA_NETWORK"):
        monkeypatch.delenv(name, raising=False)


def _wallet_file(tmp_path: Path, content: object, mode: int = 0o600) -> Path:
    path = tmp_path / "nosana_key.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    path.chmod(mode)
    return path


def _refused(path: Path) -> str:
    with pytest.raises(CredentialError) as raised:
        read_wallet(path)
    return str(raised.value)


def test_the_api_key_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOSANA_API_KEY", " nos_secret ")
    assert api_key(load_settings(None)) == "nos_secret"


def test_a_missing_api_key_says_how_to_set_one() -> None:
    with pytest.raises(CredentialError) as raised:
        api_key(load_settings(None))
    message = str(raised.value)
    assert message.startswith("no Nosana API key: set NOSANA_API_KEY=nos_..., or api_key = ")
    assert "config.toml" in message and "Nosana dashboard" in message


def test_a_wallet_file_gives_its_address(tmp_path: Path) -> None:
    found = read_wallet(_wallet_file(tmp_path, KEYPAIR))
    assert found.public_key == PUBLIC and found.secret_key == bytes(KEYPAIR)
    assert found.address == address_of(PUBLIC) and public_key_of(found.address) == PUBLIC
    assert str(list(found.secret_key)) not in repr(found) and "secret_key" not in repr(found)


def test_the_known_address_of_a_known_key() -> None:
    """base58 as Solana writes it: the all-zero key is the system program's address."""
    assert address_of(bytes(32)) == "11111111111111111111111111111111"


def test_the_wallet_setting_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _wallet_file(tmp_path, KEYPAIR)
    monkeypatch.setenv("NOSANA_WALLET", str(path))
    assert wallet(load_settings(None)).path == path


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_wallet_others_can_read_is_refused_as_ssh_refuses_a_key(
    tmp_path: Path, mode: int
) -> None:
    path = _wallet_file(tmp_path, KEYPAIR, mode)
    assert _refused(path) == (
        f"permissions {mode:04o} for {path} are too open: it holds your wallet's secret key, "
        f"which no one else may read; chmod 600 {path}"
    )


def test_a_missing_wallet_says_where_it_looked_and_how_to_choose(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    assert _refused(path) == (
        f'no wallet at {path}: set NOSANA_WALLET, or wallet = "..." in config.toml, to your '
        "Solana keypair file (the Nosana CLI keeps it at ~/.nosana/nosana_key.json)"
    )


def test_the_default_wallet_is_the_nosana_clis() -> None:
    assert Settings().wallet == Path.home() / ".nosana" / "nosana_key.json"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        {"secretKey": KEYPAIR},
        KEYPAIR[:32],
        [*KEYPAIR, 0],
        [*KEYPAIR[:-1], 256],
        [*KEYPAIR[:-1], -1],
        [*KEYPAIR[:-1], 1.0],
        [*KEYPAIR[:-1], True],
        "\xff\xfe",
    ],
    ids=lambda c: repr(c)[:24],
)
def test_a_garbled_wallet_says_what_a_wallet_is(tmp_path: Path, content: object) -> None:
    path = _wallet_file(tmp_path, content)
    assert _refused(path) == (
        f"{path} is not a Solana keypair: a wallet is a Solana keypair file, a JSON array of "
        "64 numbers from 0 to 255 (as solana-keygen and the Nosana CLI write it)"
    )


def test_a_wallet_whose_halves_disagree_is_refused(tmp_path: Path) -> None:
    path = _wallet_file(tmp_path, list(SEED + bytes(32)))
    assert _refused(path).startswith(
        f"{path} is not a Solana keypair: its last 32 numbers are not the public key of its first"
    )


def test_a_folder_is_not_a_wallet(tmp_path: Path) -> None:
    assert _refused(tmp_path).startswith(f"{tmp_path} is a folder: a wallet is a Solana keypair")


def test_a_wallet_is_a_value() -> None:
    assert Wallet(Path("w"), bytes(KEYPAIR)).address == address_of(PUBLIC)


@pytest.mark.parametrize("address", ["0OIl", "abc", "1" * 45])
def test_an_address_that_is_not_one(address: str) -> None:
    with pytest.raises(ValueError, match="is not a Solana address"):
        public_key_of(address)
