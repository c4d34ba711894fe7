"""``container_for``: the container an op asks for, from the op and its context (no Docker)."""

from __future__ import annotations

from typing import Any

import pytest

from nosana_tui.engine.backend import PortSpec
from nosana_tui.engine.container import OpContext, container_for, container_name
from nosana_tui.engine.literals import LiteralContext, UnresolvedLiteral
from nosana_tui.jobformat import model as m


def _job(*ops: dict[str, Any], **top: Any) -> m.JobDefinition:
    return m.JobDefinition.model_validate(
        {"version": "0.1", "type": "container", "ops": list(ops), **top}
    )


def _op(op_id: str = "a", results: dict[str, str] | None = None, **args: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox", **args},
    }
    if results:
        op["results"] = results
    return op


def _ctx(job: m.JobDefinition, **literals: Any) -> OpContext:
    return OpContext(
        definition=job,
        job_id="j1",
        network="net-j1",
        literals=LiteralContext(job_id="j1", **literals),
    )


def _spec(job: m.JobDefinition, **literals: Any) -> Any:
    op = job.ops[-1]
    assert isinstance(op, m.RunOperation)
    return container_for(op, _ctx(job, **literals))


def test_a_plain_op() -> None:
    spec = _spec(_job(_op(cmd="echo hi", work_dir="/w", expose=[8080, {"port": 9000}])))
    assert spec.job_id == "j1" and spec.op_id == "a" and spec.network == "net-j1"
    assert spec.name == container_name("j1", "a") == "nosana-j1-a"
    assert spec.image == "busybox"
    assert spec.cmd == ["/bin/sh", "-c", "echo hi"]
    assert spec.entrypoint is None
    assert spec.env == {"NOSANA_ID": "j1"}
    assert spec.work_dir == "/w"
    assert spec.gpu is False
    assert spec.aliases == ("a",)
    assert spec.ports == (PortSpec(8080), PortSpec(9000))
    assert spec.volumes == () and spec.restart_policy is None


def test_global_is_merged_once_before_literals() -> None:
    job = _job(
        _op(env={"B": "op", "C": "%%global.job%%"}),
        **{
            "global": {
                "gpu": True,
                "env": {"A": "%%global.variables.V%%", "B": "global"},
                "entrypoint": ["/bin/sh", "-c"],
                "work_dir": "/work",
                "variables": {"V": "v"},
            }
        },
    )
    spec = _spec(job, variables={"V": "v"})
    assert spec.env == {"A": "v", "B": "op", "C": "j1", "NOSANA_ID": "j1"}
    assert spec.gpu and spec.entrypoint == ["/bin/sh", "-c"] and spec.work_dir == "/work"


def test_substituted_values_are_not_read_again() -> None:
    # a container's output (a result) and a variable that hold literal text stay that text
    job = _job(
        _op("p", results={"r": "x"}),
        _op(
            "a",
            cmd="echo %%ops.p.results.r%%",
            env={"R": "%%ops.p.results.r%%", "V": "%%global.variables.V%%"},
        ),
        **{"global": {"variables": {"V": "%%global.job%%"}}},
    )
    spec = _spec(
        job,
        variables={"V": "%%global.job%%"},
        hosts={"p": "nosana-j1-p"},
        results={"p": {"r": ["%%global.job%%", "%%ops.p.host%%"]}},
    )
    assert spec.cmd == ["/bin/sh", "-c", "echo %%global.job%% %%ops.p.host%%"]
    assert spec.env["R"] == "%%global.job%% %%ops.p.host%%"
    assert spec.env["V"] == "%%global.job%%"


def test_nosana_id_is_the_jobs_id_whatever_the_env_says() -> None:
    assert _spec(_job(_op(env={"NOSANA_ID": "mine"}))).env["NOSANA_ID"] == "j1"


def test_aliases_restart_policy_volumes_and_host_ports() -> None:
    job = _job(
        {"type": "container/create-volume", "id": "v", "args": {"name": "data"}},
        _op(
            "my_op",
            aliases="api, backend",
            restart_policy={"policy": "on-failure", "restart_tries": 3},
            volumes=[{"name": "data", "dest": "/data"}],
            expose=8080,
        ),
    )
    op = job.ops[-1]
    assert isinstance(op, m.RunOperation)
    ctx = _ctx(job)
    ctx = OpContext(ctx.definition, ctx.job_id, ctx.network, ctx.literals, {8080: 41234})
    spec = container_for(op, ctx)
    assert spec.aliases == ("api", "backend")  # my_op is no hostname
    assert (spec.restart_policy, spec.restart_tries) == ("on-failure", 3)
    assert spec.volumes == (("j1-data", "/data"),)
    assert spec.ports == (PortSpec(8080, 41234),)


def test_cmd_arrays_splice_list_values_and_drop_remove_markers() -> None:
    job = _job(
        _op("p", results={"files": "x"}),
        _op(
            "a",
            cmd=["ls", "%%ops.p.results.files%%", m.REMOVE_IF_EMPTY],
            entrypoint=[m.REMOVE_IF_EMPTY],
        ),
    )
    spec = _spec(job, hosts={"p": "c"}, results={"p": {"files": ["a", "b"]}})
    assert spec.cmd == ["ls", "a", "b"]
    assert spec.entrypoint is None


def test_an_unresolved_literal_raises_before_any_container() -> None:
    with pytest.raises(UnresolvedLiteral, match=r"%%ops\.ghost\.host%%"):
        _spec(_job(_op(env={"X": "%%ops.ghost.host%%"})))


def test_the_op_and_the_definition_are_not_changed() -> None:
    job = _job(_op(env={"A": "%%global.job%%"}), **{"global": {"env": {"G": "1"}}})
    before = job.model_dump()
    _spec(job)
    assert job.model_dump() == before
