"""Execution semantics, end to end: the real agent over loopback, the real Docker engine."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from nosana_tui.api.models import Health, JobStatus, OpStatus
from nosana_tui.client.node import NodeClient, NodeError, job_done, job_ready
from tests.node.conftest import http_check, job, op_log, run_op, system_log, wait_for

pytestmark = pytest.mark.anyio

SERVE = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www"


async def test_one_shot_op_succeeds_with_results_and_logs(client: NodeClient) -> None:
    view = await client.submit(
        job(
            run_op(
                "hello",
                "echo hello; echo 'RESULT: 42'; echo bye >&2",
                results={"answer": "RESULT: (\\d+)"},
            )
        ),
        name="t",
    )
    done = await wait_for(client, view.id, job_done)
    op = done.op("hello")
    assert done.status is JobStatus.SUCCESS
    assert op.status is OpStatus.FINISHED and op.exit_code == 0
    assert op.results == {"answer": ["RESULT: 42", "42"]}
    entries = [e async for e in client.logs(view.id, "hello") if not isinstance(e, int)]
    assert [(e.stream, e.text) for e in entries if e.text == "bye"] == [("stderr", "bye")]
    assert "hello" in [e.text for e in entries]
    system = await system_log(client, view.id)
    assert any("starting container" in line for line in system)
    assert any("exited with code 0" in line for line in system)
    await client.remove(view.id)


async def test_stages_run_in_order_and_dependencies_wait_for_health(client: NodeClient) -> None:
    # `slow` becomes healthy only after 1.5 s; `fast` at once. `dependent` must wait for both.
    slow = run_op(
        "slow",
        "mkdir -p /www && sleep 1.5 && echo ok > /www/index.html; exec httpd -f -p 8080 -h /www",
        group="serve",
        args={"expose": [{"port": 8080, "health_checks": [http_check()]}]},
    )
    fast = run_op("fast", SERVE, group="serve", args={"expose": [8080]})
    dependent = run_op(
        "dependent",
        "echo started; sleep 600",
        group="serve",
        execution={"depends_on": ["fast", "slow"]},
    )
    first = run_op("first", "echo stage one; sleep 0.5", group="prepare")
    view = await client.submit(job(first, slow, fast, dependent))
    ready = await wait_for(client, view.id, job_ready)
    assert ready.status is JobStatus.RUNNING
    assert ready.op("first").status is OpStatus.FINISHED
    assert ready.op("slow").health is Health.HEALTHY
    assert ready.op("fast").health is Health.NONE and ready.op("fast").ready
    # first finished before the serve stage started
    assert ready.op("first").ended_at <= ready.op("slow").started_at  # type: ignore[operator]
    system = await system_log(client, view.id)
    slow_ready = next(
        i for i, t in enumerate(system) if t.startswith("[slow] health checks passed")
    )
    dependent_start = next(
        i for i, t in enumerate(system) if t.startswith("[dependent] starting container")
    )
    assert slow_ready < dependent_start, system
    await client.remove(view.id)


async def test_failed_op_fails_the_job_and_later_stages_never_start(client: NodeClient) -> None:
    view = await client.submit(
        job(
            run_op("server", "sleep 600", group="one"),
            run_op("broken", "echo oops >&2; exit 3", group="one"),
            run_op("never", "echo should not run", group="two"),
        )
    )
    failed = await wait_for(
        client, view.id, lambda v: v.status is JobStatus.FAILED and v.op("broken").status.terminal
    )
    assert failed.op("broken").status is OpStatus.FAILED
    assert failed.op("broken").exit_code == 3
    assert "op broken failed" in failed.message
    await asyncio.sleep(1)
    now = await client.job(view.id)
    # an op that will never start says so and counts as ended: no wait on the job hangs
    assert now.op("never").status is OpStatus.STOPPED
    assert now.op("never").message.startswith("never started: the job failed (op broken")
    assert now.op("server").status is OpStatus.RUNNING, "what runs keeps running"
    await client.stop_job(view.id)
    stopped = await wait_for(client, view.id, job_done)
    assert stopped.op("server").status is OpStatus.STOPPED
    await client.remove(view.id)


async def test_literals_resolve_when_an_op_starts(client: NodeClient) -> None:
    producer = run_op(
        "producer",
        "echo 'TOKEN=abc123'",
        group="one",
        results={"token": "TOKEN=(\\w+)"},
    )
    consumer = run_op(
        "consumer",
        "echo job=%%global.job%% host=%%ops.producer.host%% var=%%global.variables.COLOUR%% "
        "token=%%ops.producer.results.token%%",
        group="two",
    )
    view = await client.submit(
        job(producer, consumer, **{"global": {"variables": {"COLOUR": "red"}}})
    )
    await wait_for(client, view.id, job_done)
    (line,) = await op_log(client, view.id, "consumer")
    assert f"job={view.id}" in line
    assert f"host=nosana-{view.id}-producer" in line
    assert "var=red" in line
    assert "token=TOKEN=abc123 abc123" in line
    await client.remove(view.id)


async def test_a_value_put_in_is_not_read_again(client: NodeClient) -> None:
    # the producer prints literal text (split so that its own cmd holds no literal); the consumer
    # gets it through a result in its env, next to a global env value that is a literal
    producer = run_op(
        "producer",
        "printf 'V=%s%s\\n' '%%' 'global.job%%'",
        group="one",
        results={"value": "V=(.*)"},
    )
    consumer = run_op(
        "consumer",
        'echo "r=$R g=$G"',
        group="two",
        args={"env": {"R": "%%ops.producer.results.value%%"}},
    )
    view = await client.submit(
        job(producer, consumer, **{"global": {"env": {"G": "%%global.job%%"}}})
    )
    await wait_for(client, view.id, job_done)
    (line,) = await op_log(client, view.id, "consumer")
    assert line == f"r=V=%%global.job%% %%global.job%% g={view.id}"
    await client.remove(view.id)


async def test_unresolved_literal_at_run_time(client: NodeClient) -> None:
    # %%ops.a.endpoint.9999%%: op `a` exposes nothing static at that port, only a literal.
    op_a = run_op("a", "sleep 600", group="one", args={"expose": "%%global.variables.PORT%%"})
    op_b = run_op("b", "echo %%ops.a.endpoint.9999%%", group="two")
    view = await client.submit(job(op_a, op_b, **{"global": {"variables": {"PORT": "8080"}}}))
    failed = await wait_for(client, view.id, lambda v: v.op("b").status.terminal, timeout=30)
    b = failed.op("b")
    assert b.status is OpStatus.FAILED
    assert "unresolved literal %%ops.a.endpoint.9999%%" in b.message
    assert b.container_id is None, "the container never started"
    assert failed.status is JobStatus.FAILED
    await client.remove(view.id)


async def test_stop_and_restart_an_op_keeps_its_url(client: NodeClient) -> None:
    web = run_op("web", SERVE, args={"expose": [{"port": 8080, "health_checks": [http_check()]}]})
    view = await client.submit(job(web))
    ready = await wait_for(client, view.id, job_ready)
    (endpoint,) = ready.op("web").endpoints
    assert endpoint.url and endpoint.url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient() as http:
        assert (await http.get(endpoint.url)).text.strip() == "ok"
    assert await client.stop_op(view.id, "web", "web") == "Operation Stopped"
    stopped = await client.job(view.id)
    assert stopped.op("web").status is OpStatus.STOPPED
    assert stopped.op("web").message == "stopped by user"
    assert await client.restart_op(view.id, "web", "web") == "Operation restarted"
    again = await wait_for(
        client, view.id, lambda v: v.op("web").ready and v.op("web").restarts == 1
    )
    assert again.op("web").endpoints[0].url == endpoint.url
    assert again.status is JobStatus.RUNNING
    await client.remove(view.id)


async def test_group_stop_and_whole_job_stop(client: NodeClient) -> None:
    view = await client.submit(
        job(run_op("a", "sleep 600", group="g"), run_op("b", "sleep 600", group="g"))
    )
    await wait_for(client, view.id, job_ready)
    assert await client.stop_group(view.id, "g") == "Group Operation Stopped"
    done = await wait_for(client, view.id, job_done)
    assert {o.status for o in done.ops} == {OpStatus.STOPPED}
    with pytest.raises(NodeError) as err:
        await client.stop_group(view.id, "nope")
    assert err.value.status == 404
    await client.remove(view.id)


async def test_execution_timeout_stops_the_op_and_says_why(client: NodeClient) -> None:
    view = await client.submit(job(run_op("slow", "sleep 600", execution={"timeout": 1})))
    done = await wait_for(client, view.id, job_done)
    op = done.op("slow")
    assert op.status is OpStatus.STOPPED
    assert "execution.timeout of 1 s reached" in op.message
    await client.remove(view.id)


async def test_stopping_the_last_group_by_hand_ends_the_job_stopped(client: NodeClient) -> None:
    """Issue 13 (finding 6): the last group stopped by hand is no success, also when the op's
    execution.timeout fires during the stop (`sleep` as PID 1 ignores SIGTERM, so the engine
    takes the agent's 2 s grace period, and the 2 s timeout falls inside it). The job ended
    'success' and the op said the timeout had stopped it."""
    view = await client.submit(
        job(
            run_op("prepare", "echo prepared", group="first"),
            run_op("serve", "sleep 600", group="last", execution={"timeout": 2}),
        )
    )
    await wait_for(client, view.id, lambda v: v.op("serve").status is OpStatus.RUNNING)
    assert await client.stop_group(view.id, "last") == "Group Operation Stopped"
    done = await wait_for(client, view.id, job_done)
    assert done.op("prepare").status is OpStatus.FINISHED
    assert done.op("serve").status is OpStatus.STOPPED
    assert done.op("serve").message == "stopped by user"
    assert done.status is JobStatus.STOPPED
    assert "job ended: stopped" in await system_log(client, view.id)
    await client.remove(view.id)


async def test_continuous_health_check_marks_unhealthy_and_back(client: NodeClient) -> None:
    flapper = run_op(
        "flapper",
        "mkdir -p /www && echo ok > /www/index.html && httpd -p 8080 -h /www && "
        "sleep 2 && rm /www/index.html && sleep 3 && echo ok > /www/index.html && sleep 600",
        args={"expose": [{"port": 8080, "health_checks": [http_check(continuous=True)]}]},
    )
    view = await client.submit(job(flapper))
    await wait_for(client, view.id, lambda v: v.op("flapper").health is Health.HEALTHY)
    sick = await wait_for(client, view.id, lambda v: v.op("flapper").health is Health.UNHEALTHY)
    assert sick.op("flapper").status is OpStatus.RUNNING, "a failing check never kills the op"
    assert sick.op("flapper").endpoints[0].status == "OFFLINE"
    await wait_for(client, view.id, lambda v: v.op("flapper").health is Health.HEALTHY)
    await client.remove(view.id)


async def test_restart_policy_restarts_a_crashing_container(client: NodeClient) -> None:
    crasher = run_op(
        "crasher",
        "echo run; sleep 0.3; exit 1",
        args={"restart_policy": {"policy": "on-failure", "restart_tries": 2}},
    )
    view = await client.submit(job(crasher))
    done = await wait_for(client, view.id, job_done, timeout=60)
    op = done.op("crasher")
    assert op.status is OpStatus.FAILED and op.exit_code == 1
    assert op.restarts == 2
    assert (await op_log(client, view.id, "crasher")).count("run") >= 2
    await client.remove(view.id)


async def test_an_op_that_serves_others_stops_when_they_end(client: NodeClient) -> None:
    server = run_op(
        "server",
        SERVE,
        group="pair",
        args={"expose": [{"port": 8080, "health_checks": [http_check(continuous=False)]}]},
        execution={"depends_on": ["bench"], "stop_if_dependent_stops": True},
    )
    bench = run_op("bench", "wget -q -O - http://server:8080/ && echo fetched", group="pair")
    view = await client.submit(job(server, bench))
    done = await wait_for(client, view.id, job_done, timeout=60)
    assert done.op("bench").status is OpStatus.FINISHED
    assert "fetched" in await op_log(client, view.id, "bench")
    assert done.op("server").status is OpStatus.STOPPED
    assert "serves have ended" in done.op("server").message
    await client.remove(view.id)


async def test_volumes_are_shared_between_stages(client: NodeClient) -> None:
    view = await client.submit(
        job(
            {
                "type": "container/create-volume",
                "id": "vol",
                "args": {"name": "data"},
                "execution": {"group": "one"},
            },
            run_op(
                "writer",
                "echo persisted > /data/f",
                group="one",
                args={"volumes": [{"name": "data", "dest": "/data"}]},
                execution={"depends_on": ["vol"]},
            ),
            run_op(
                "reader",
                "cat /data/f",
                group="two",
                args={"volumes": [{"name": "data", "dest": "/data"}]},
            ),
        )
    )
    done = await wait_for(client, view.id, job_done)
    assert done.status is JobStatus.SUCCESS
    assert await op_log(client, view.id, "reader") == ["persisted"]
    await client.remove(view.id)


async def test_two_jobs_from_one_definition_run_side_by_side(client: NodeClient) -> None:
    definition = job(run_op("web", SERVE, args={"expose": [8080]}))
    one = await client.submit(definition)
    two = await client.submit(definition)
    a = await wait_for(client, one.id, job_ready)
    b = await wait_for(client, two.id, job_ready)
    assert a.op("web").endpoints[0].url != b.op("web").endpoints[0].url
    for view in (one, two):
        await client.remove(view.id)


async def test_a_malformed_resource_is_refused_before_anything_starts(
    client: NodeClient,
) -> None:
    """Resources are fetched now (tests/resources/); one the network would reject (an Ollama
    resource without its model) never reaches the engine."""
    before = len(await client.jobs())
    definition = job(run_op("m", "true", args={"resources": [{"type": "Ollama"}]}))
    with pytest.raises(NodeError) as err:
        await client.submit(definition)
    assert err.value.status == 422
    assert any("resources" in d["path"] for d in err.value.diagnostics), err.value.diagnostics
    assert len(await client.jobs()) == before


async def test_invalid_definition_is_refused_with_diagnostics(client: NodeClient) -> None:
    with pytest.raises(NodeError) as err:
        await client.submit(job(run_op("a b", "true")))
    assert err.value.status == 422
    assert any(d["code"] == "op-id-space" for d in err.value.diagnostics)


async def test_gpu_op_on_an_engine_without_gpus_fails_saying_what_to_install(
    client: NodeClient,
) -> None:
    info = await client.info()
    if info.engine.get("gpu_runtime"):
        pytest.skip("this engine has a GPU runtime")
    view = await client.submit(job(run_op("g", "true", args={"gpu": True})))
    done = await wait_for(client, view.id, job_done)
    op = done.op("g")
    assert op.status is OpStatus.FAILED
    assert "NVIDIA container toolkit" in op.message
    await client.remove(view.id)


async def test_remove_deletes_containers_network_and_volumes(client: NodeClient) -> None:
    from tests.dockerenv import leftovers

    view = await client.submit(
        job(
            {"type": "container/create-volume", "id": "v", "args": {"name": "cache"}},
            run_op("s", "sleep 600"),
        )
    )
    await wait_for(client, view.id, job_ready)
    mine = [n for names in leftovers().values() for n in names if view.id in n]
    assert len(mine) == 3, mine  # container, network, volume
    assert await client.remove(view.id) == f"Job {view.id} removed"
    assert not [n for names in leftovers().values() for n in names if view.id in n]
    with pytest.raises(NodeError) as err:
        await client.job(view.id)
    assert err.value.status == 404
