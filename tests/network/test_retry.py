"""The one retry helper: what it retries, and how long it waits (no server needed)."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Sequence

import httpx

from nosana_tui.client import network as net


def run(
    answers: Sequence[httpx.Response | Exception], *, idempotent: bool = True
) -> tuple[int, int, list[float]]:
    sent: list[int] = []
    waits: list[float] = []

    async def send() -> httpx.Response:
        answer = answers[len(sent)]
        sent.append(1)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    response = asyncio.run(net.send_with_retry(send, idempotent=idempotent, sleep=sleep))
    return response.status_code, len(sent), waits


def test_in_progress_waits_the_servers_retry_after() -> None:
    busy = httpx.Response(
        409, headers={"Retry-After": "2"}, json={"code": "IDEMPOTENCY_KEY_IN_PROGRESS"}
    )
    assert run([busy, httpx.Response(200, json={})]) == (200, 2, [2.0])


def test_payload_mismatch_is_never_retried() -> None:
    mismatch = httpx.Response(409, json={"code": "IDEMPOTENCY_KEY_PAYLOAD_MISMATCH"})
    assert run([mismatch, httpx.Response(200)]) == (409, 1, [])


def test_retry_after_as_a_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    status, sent, waits = run(
        [httpx.Response(429, headers={"Retry-After": when}), httpx.Response(200)]
    )
    assert (status, sent) == (200, 2) and 25 <= waits[0] <= 30


def test_backoff_grows_without_retry_after() -> None:
    status, sent, waits = run([httpx.Response(503)] * 3 + [httpx.Response(200)])
    assert (status, sent) == (200, 4)
    assert 0.25 <= waits[0] <= 0.5 and 1.0 <= waits[2] <= 2.0


def test_transport_errors_retried_only_when_idempotent() -> None:
    lost = httpx.ConnectError("refused")
    assert run([lost, httpx.Response(200)])[:2] == (200, 2)
    try:
        run([lost, httpx.Response(200)], idempotent=False)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("a non-idempotent request was sent again")


def test_client_errors_are_not_retried() -> None:
    assert run([httpx.Response(400), httpx.Response(200)]) == (400, 1, [])


def test_cid_v0() -> None:
    assert net.is_cid_v0("QmaRixFuB2rZdV8bb3pmp4rw5rwbJ98rCnbSPWVHzpk7vN")
    assert not net.is_cid_v0("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")
    assert not net.is_cid_v0("Qm0Ol")
