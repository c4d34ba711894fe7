"""A credential never goes over plain http:// to a host off this machine unless ``allow_http``:
the API key (and the pin JWT) from ``client.network``, the poster's signature to a network
job's node from ``client.network_node`` (the same rule as a node's token, ``client.local``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from nosana_tui.client import network as net
from nosana_tui.client.network_node import NetworkConfig, NetworkNodeClient, node_of

NODE = "9" * 44  # a node address (base58 of 32 bytes)


def _nothing_sent(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"sent {request.method} {request.url}")


def _client(url: str, allow_http: bool = False, **kw: object) -> net.NetworkClient:
    return net.NetworkClient(
        url,
        "nos_secret",
        pin_url=url,
        allow_http=allow_http,
        transport=httpx.MockTransport(kw.pop("handler", _nothing_sent)),  # type: ignore[arg-type]
    )


def test_the_api_key_is_not_sent_over_plain_http_off_this_machine() -> None:
    async def main() -> None:
        async with _client("http://gateway.example/api") as client:
            await client.credits()

    with pytest.raises(net.PlainHttp) as refused:
        asyncio.run(main())
    said = str(refused.value)
    assert "the API key" in said and "http://gateway.example/api" in said
    assert "allow_http" in said and "NOSANA_TUI_ALLOW_HTTP=1" in said
    assert "nos_secret" not in said


def test_the_pin_jwt_is_not_sent_over_plain_http_either() -> None:
    async def main() -> None:
        client = net.NetworkClient(
            "https://gateway.example",
            None,
            pin_url="http://pin.example",
            pin_jwt="jwt-secret",
            transport=httpx.MockTransport(_nothing_sent),
        )
        async with client:
            await client.pin({"version": "0.1"})

    with pytest.raises(net.PlainHttp, match="the pin service's JWT"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("url", "allow_http"),
    [
        ("https://gateway.example", False),
        ("http://127.0.0.1:9000", False),
        ("http://localhost:9000", False),
        ("http://[::1]:9000", False),
        ("http://gateway.example", True),
    ],
)
def test_https_loopback_or_allow_http_send_the_key(url: str, allow_http: bool) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        body = {"assignedCredits": 1, "reservedCredits": 0, "settledCredits": 0}
        return httpx.Response(200, json=body)

    async def main() -> net.Credits:
        async with _client(url, allow_http, handler=handler) as client:
            return await client.credits()

    assert asyncio.run(main()).available == 1
    assert seen == ["Bearer nos_secret"]


def _conf(node_url: str, allow_http: bool = False) -> NetworkConfig:
    return NetworkConfig(
        network="mainnet",
        api_url="https://gateway.example",
        pin_url="https://pin.example",
        ipfs_gateway="https://ipfs.example/ipfs",
        api_key="nos_secret",
        pin_jwt=None,
        node_domain="node.example",
        node_url=node_url,
        wallet=Path("/nonexistent/wallet.json"),
        allow_http=allow_http,
    )


def test_a_posters_signature_is_not_sent_to_a_node_over_plain_http() -> None:
    with pytest.raises(net.PlainHttp) as refused:
        node_of(_conf("http://{address}.{domain}"), NODE)
    said = str(refused.value)
    assert "the job poster's signature" in said and f"http://{NODE}.node.example" in said
    assert "NOSANA_TUI_ALLOW_HTTP=1" in said
    assert node_of(_conf("https://{address}.{domain}"), NODE).startswith("https://")
    assert node_of(_conf("http://127.0.0.1:5001"), NODE) == "http://127.0.0.1:5001"
    allowed = node_of(_conf("http://{address}.{domain}", allow_http=True), NODE)
    assert allowed == f"http://{NODE}.node.example"


def test_the_network_node_client_refuses_before_signing() -> None:
    """The UI's path: the refusal is the node's error (shown in the job view); nothing was
    signed (no sign-message call) and nothing was sent."""
    conf = _conf("http://{address}.{domain}")
    client = NetworkNodeClient(conf, _client(conf.api_url))
    job = net.Job(address="J" * 32, market="M" * 32, node=NODE, state=net.JobState.RUNNING)

    async def main() -> None:
        try:
            await client._node(job)
        finally:
            await client.close()

    from nosana_tui.client.node import NodeError

    with pytest.raises(NodeError, match=r"plain http://.*NOSANA_TUI_ALLOW_HTTP"):
        asyncio.run(main())


def test_one_rule_and_one_message_for_a_token_and_the_api_key(tmp_path: Path) -> None:
    """A node's token (``client.local.token_for``) and the API key (``client.network``) are
    refused by the same rule, in the same words (``config.plain_http_refusal``)."""
    from nosana_tui.client.local import token_for
    from nosana_tui.client.node import NodeError
    from nosana_tui.config import ALLOW_HTTP_ENV, Paths, plain_http_refusal
    from nosana_tui.settings import env_name

    assert env_name("allow_http") == ALLOW_HTTP_ENV
    url = "http://gpu-box.example:5001"
    with pytest.raises(NodeError) as token:
        token_for(Paths(tmp_path / "config", tmp_path / "data"), url, saved="tok")
    with pytest.raises(net.PlainHttp) as key:
        net.refuse_plain_http(url, "this node's token", False)
    assert str(token.value) == str(key.value) == plain_http_refusal(url, "this node's token", False)
    assert f"{ALLOW_HTTP_ENV}=1" in str(key.value) and "ssh -L" in str(key.value)
    for allowed in ("https://gpu-box.example", "http://127.0.0.1:5001", "http://[::1]:1"):
        assert plain_http_refusal(allowed, "x", False) is None
    assert plain_http_refusal(url, "x", True) is None
