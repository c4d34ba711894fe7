"""Derived views: the stage plan and each op's effective settings."""

from __future__ import annotations

from typing import Any

from nosana_tui.jobformat.model import JobDefinition, RunOperation
from nosana_tui.jobformat.plan import effective, required_vram_gb, resolve_command, stages


def _job(ops: list[dict[str, Any]], **top: Any) -> JobDefinition:
    return JobDefinition.model_validate({"version": "0.1", "type": "container", "ops": ops, **top})


def _run(op_id: str, group: str | None = None, **args: Any) -> dict[str, Any]:
    op: dict[str, Any] = {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox", **args},
    }
    if group:
        op["execution"] = {"group": group}
    return op


def test_stages_follow_first_appearance_and_ungrouped_ops_stand_alone() -> None:
    job = _job([_run("a", "infra"), _run("solo"), _run("b", "app"), _run("c", "infra")])
    plan = stages(job)
    assert [(s.name, s.ops) for s in plan] == [
        ("infra", ("a", "c")),
        ("solo", ("solo",)),
        ("app", ("b",)),
    ]
    assert [s.index for s in plan] == [0, 1, 2]


def test_global_merges_into_each_op() -> None:
    job = _job(
        [_run("a", env={"B": "op", "C": "3"}), _run("b", work_dir="/mine", entrypoint="/x")],
        **{
            "global": {
                "gpu": True,
                "env": {"A": "1", "B": "global"},
                "entrypoint": ["/bin/sh", "-c"],
                "work_dir": "/work",
            }
        },
    )
    a, b = (effective(job, op) for op in job.ops if isinstance(op, RunOperation))
    assert a.env == {"A": "1", "B": "op", "C": "3"}
    assert a.gpu and b.gpu
    assert a.entrypoint == ["/bin/sh", "-c"] and a.work_dir == "/work"
    assert b.entrypoint == ["/x"] and b.work_dir == "/mine"


def test_string_cmd_runs_under_sh_and_arrays_drop_remove_markers() -> None:
    assert resolve_command("echo hi && ls", shell=True) == ["/bin/sh", "-c", "echo hi && ls"]
    assert resolve_command(["echo", "hi"], shell=True) == ["echo", "hi"]
    assert resolve_command(["a", "__remove-if-empty__"], shell=True) == ["a"]
    assert resolve_command(["__remove-if-empty__"], shell=True) is None
    assert resolve_command("/start.sh", shell=False) == ["/start.sh"]


def test_ports_and_health_checks_are_listed() -> None:
    check = {
        "type": "http",
        "path": "/",
        "method": "GET",
        "expected_status": 200,
        "continuous": False,
    }
    job = _job(
        [_run("w", expose=[80, {"port": 8080, "health_checks": [check]}, "%%ops.x.results.p%%"])]
    )
    eff = effective(job, job.ops[0])  # type: ignore[arg-type]
    assert [p.port for p in eff.ports] == [80, 8080]
    assert len(eff.ports[1].health_checks) == 1
    assert eff.dynamic_expose == ("%%ops.x.results.p%%",)


def test_required_vram_reads_gb_and_mb() -> None:
    assert required_vram_gb(_job([_run("a")])) is None
    assert (
        required_vram_gb(_job([_run("a")], meta={"system_requirements": {"required_vram": 6}})) == 6
    )
    assert (
        required_vram_gb(_job([_run("a")], meta={"system_requirements": {"vram_total_mb": 6144}}))
        == 6
    )
    both = {"system_requirements": {"required_vram": 4, "vram_total_mb": 8192}}
    assert required_vram_gb(_job([_run("a")], meta=both)) == 8


def test_the_planned_view_marks_the_ops_that_asked_for_the_gpus() -> None:
    from nosana_tui.api.models import planned_view

    own = _job([_run("llm", gpu=True), _run("proxy")])
    assert [(o.id, o.gpu) for o in planned_view("j", own).ops] == [("llm", True), ("proxy", False)]
    everyone = _job([_run("a"), _run("b")], **{"global": {"gpu": True}})
    assert all(o.gpu for o in planned_view("j", everyone).ops)
