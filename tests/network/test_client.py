"""The network client against the stand-in gateway, end to end over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from nosana_tui.client import network as net
from tests.network.conftest import API_KEY
from tests.network.standin import Key, Standin

JOB = json.loads(
    (Path(__file__).parents[2] / "nosana_tui/library/busybox-hello/job.json").read_text()
)
T = TypeVar("T")
waits: list[float] = []


async def _no_sleep(seconds: float) -> None:
    waits.append(seconds)


def call(standin: Standin, fn: Callable[[net.NetworkClient], Awaitable[T]], **kw: Any) -> T:
    async def main() -> T:
        key = kw.pop("api_key", API_KEY)
        async with net.NetworkClient(
            standin.url,
            key,
            pin_url=standin.url,
            ipfs_gateway=f"{standin.url}/ipfs",
            sleep=_no_sleep,
            **kw,
        ) as client:
            return await fn(client)

    waits.clear()
    return asyncio.run(main())


def test_markets_with_gpus_and_prices(standin: Standin) -> None:
    markets = call(standin, lambda c: c.markets())
    h100 = next(m for m in markets if m.slug == "nvidia-h100")
    assert h100.gpu_types == ["NVIDIA H100 80GB HBM3"]
    assert h100.usd_per_hour == pytest.approx(2.2)  # the hosts' 2.0 + 10 % network fee
    assert h100.nos_per_hour == pytest.approx(3.6)
    by_slug = call(standin, lambda c: c.market("nvidia-h100"))
    by_address = call(standin, lambda c: c.market(h100.address))
    assert by_slug == by_address == h100
    assert h100.most_usd(2 * 3600) == pytest.approx(4.4)


def test_credits(standin: Standin) -> None:
    credits = call(standin, lambda c: c.credits())
    assert credits.available == 100


def test_post_then_job_moves_through_states(standin: Standin) -> None:
    posted = call(standin, lambda c: c.post(JOB, "nvidia-3090", 7200))
    assert posted.ipfsHash.startswith("Qm") and standin.pinned[posted.ipfsHash] == JOB
    assert standin.listed[0]["market"] == standin.markets[0]["address"]  # slug resolved
    assert posted.credits.costUSD == pytest.approx(0.44)
    job = call(standin, lambda c: c.job(posted.job))
    assert job.state is net.JobState.QUEUED and job.node_address is None
    standin.start_job(posted.job)
    job = call(standin, lambda c: c.job(posted.job))
    assert job.state is net.JobState.RUNNING and job.node_address
    assert job.cost_nos() == pytest.approx(60 * 100 / 1e6, rel=0.1)  # a minute at 100 units/s
    assert job.cost_usd() == pytest.approx(0.22 / 60, rel=0.1)
    standin.complete_job(posted.job)
    assert call(standin, lambda c: c.job(posted.job)).state is net.JobState.COMPLETED


def test_a_retried_post_lists_the_job_once(standin: Standin) -> None:
    standin.fail_path = "/jobs/list"
    standin.fail_next = [503, 502]  # the gateway failed twice; the third attempt lists it
    first = call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600, idempotency_key="k-1"))
    assert len(waits) == 2
    again = call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600, idempotency_key="k-1"))
    assert again == first  # the same key replays the first answer
    assert [r for r in standin.requests if r == ("POST", "/jobs/list")] == [
        ("POST", "/jobs/list")
    ] * 4
    assert len(standin.listed) == 1 and list(standin.jobs) == [first.job]


def test_a_post_whose_answer_was_lost_is_listed_once(standin: Standin) -> None:
    standin.lose_next_listing = 1  # listed, but the gateway timed out before answering
    posted = call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600))
    assert len(standin.listed) == 1 and list(standin.jobs) == [posted.job]
    assert [r for r in standin.requests if r == ("POST", "/jobs/list")] == [
        ("POST", "/jobs/list")
    ] * 2


def test_same_key_other_body_is_a_conflict(standin: Standin) -> None:
    call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600, idempotency_key="k-2"))
    with pytest.raises(net.IdempotencyConflict) as err:
        call(standin, lambda c: c.post(JOB, "nvidia-3090", 7200, idempotency_key="k-2"))
    assert err.value.code == "IDEMPOTENCY_KEY_PAYLOAD_MISMATCH"
    assert "different request" in str(err.value) and "nothing was posted" in str(err.value)
    assert len(standin.listed) == 1


def test_a_post_without_a_key_is_not_retried(standin: Standin) -> None:
    async def send() -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    calls: list[int] = []
    response = asyncio.run(net.send_with_retry(send, idempotent=False, sleep=_no_sleep))
    assert response.status_code == 503 and calls == [1]


def test_out_of_credits(standin: Standin) -> None:
    standin.keys[API_KEY] = Key(credits=0.1)
    with pytest.raises(net.OutOfCredits) as err:
        call(standin, lambda c: c.post(JOB, "nvidia-h100", 3600))
    assert "out of credits (402)" in str(err.value)
    assert "add credits at https://dashboard.nosana.com" in str(err.value)


def test_missing_scope_is_named(standin: Standin) -> None:
    standin.keys[API_KEY] = Key(scopes=frozenset({"jobs:read", "credits:read"}))
    with pytest.raises(net.MissingScope) as err:
        call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600))
    assert err.value.scope == "jobs:write"
    assert "lacks the scope jobs:write" in str(err.value)
    with pytest.raises(net.MissingScope, match="wallet:sign"):
        call(standin, lambda c: c.sign_message("NosanaApiAuthentication"))


def test_sign_message(standin: Standin) -> None:
    signed = call(standin, lambda c: c.sign_message("NosanaApiAuthentication"))
    assert signed.message == "NosanaApiAuthentication" and signed.userAddress


def test_no_key_says_how_to_set_one(standin: Standin) -> None:
    with pytest.raises(net.NoApiKey, match="NOSANA_API_KEY=nos_"):
        call(standin, lambda c: c.credits(), api_key=None)
    assert ("POST", "/pinning/pinJSONToIPFS") not in standin.requests
    with pytest.raises(net.NoApiKey):
        call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600), api_key="")


def test_wrong_key(standin: Standin) -> None:
    with pytest.raises(net.Unauthorized, match="NOSANA_API_KEY"):
        call(standin, lambda c: c.credits(), api_key="nos_wrong")


def test_invalid_job_never_leaves_the_machine(standin: Standin) -> None:
    with pytest.raises(net.InvalidJob) as err:
        call(standin, lambda c: c.post({"version": "0.1", "ops": "no"}, "nvidia-3090", 3600))
    assert err.value.diagnostics
    assert not [r for r in standin.requests if r[0] == "POST"]


def test_timeout_under_an_hour_is_refused_here(standin: Standin) -> None:
    with pytest.raises(net.BadRequest, match="at least 3600 seconds"):
        call(standin, lambda c: c.post(JOB, "nvidia-3090", 600))


def test_my_jobs_paged_and_rate_limit_waited(standin: Standin) -> None:
    for _ in range(5):
        call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600))
    standin.rate_limit_next = 1
    standin.retry_after = 3
    jobs = call(standin, lambda c: c.my_jobs(page_size=2))
    assert len(jobs) == 5 and {j.address for j in jobs} == set(standin.jobs)
    assert waits == [3.0]  # the server's Retry-After, once
    pages = [r for r in standin.requests if r == ("GET", "/jobs/")]
    assert len(pages) == 4  # 429, then 3 pages of 2


def test_rate_limit_past_the_wait_shows_it(standin: Standin) -> None:
    call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600))
    standin.rate_limit_next = 1
    standin.retry_after = 120
    with pytest.raises(net.RateLimited) as err:
        call(standin, lambda c: c.my_jobs(), max_wait=60)
    assert err.value.retry_after == 120 and "wait 120 s" in str(err.value)


def test_stop_and_extend(standin: Standin) -> None:
    posted = call(standin, lambda c: c.post(JOB, "nvidia-3090", 3600))
    standin.start_job(posted.job)
    extended = call(standin, lambda c: c.extend(posted.job, 1800))
    assert extended.tx and extended.credits and extended.credits.costUSD == pytest.approx(0.11)
    assert call(standin, lambda c: c.job(posted.job)).timeout == 5400
    stopped = call(standin, lambda c: c.stop(posted.job))
    assert stopped.tx and not stopped.delisted
    assert call(standin, lambda c: c.job(posted.job)).state is net.JobState.STOPPED
    again = call(standin, lambda c: c.stop(posted.job))  # a terminal job: a no-op
    assert again.tx is None
    assert call(standin, lambda c: c.extend(posted.job, 600)).tx is None


def test_unknown_job(standin: Standin) -> None:
    with pytest.raises(net.NotFound, match="not found"):
        call(standin, lambda c: c.job("Nope1111111111111111111111111111"))


def test_server_error_after_retries(standin: Standin) -> None:
    standin.fail_next = [500] * 4
    with pytest.raises(net.ServerError, match="try again later"):
        call(standin, lambda c: c.markets())
    assert len(waits) == 3


def test_unreachable() -> None:
    async def main() -> None:
        async with net.NetworkClient(
            "http://127.0.0.1:9", API_KEY, pin_url="http://127.0.0.1:9", sleep=_no_sleep
        ) as c:
            await c.markets()

    with pytest.raises(net.Unreachable, match=r"cannot reach 127\.0\.0\.1"):
        asyncio.run(main())


def test_repr_never_shows_the_key() -> None:
    client = net.NetworkClient("http://x", "nos_secret", pin_url="http://x")
    assert "nos_secret" not in repr(client)
    asyncio.run(client.aclose())
