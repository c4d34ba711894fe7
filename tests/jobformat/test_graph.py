"""The dependency graph (``jobformat.graph``): stages, edges, order, cycles and serving ops."""

from __future__ import annotations

from typing import Any

from nosana_tui.jobformat.graph import DependencyGraph, Node, Stage
from nosana_tui.jobformat.model import JobDefinition
from nosana_tui.jobformat.plan import stages


def test_stages_in_order_of_first_appearance() -> None:
    g = DependencyGraph(
        [Node("a", "infra"), Node("solo", "solo"), Node("b", "app"), Node("c", "infra")]
    )
    assert g.stages == [
        Stage("infra", 0, ("a", "c")),
        Stage("solo", 1, ("solo",)),
        Stage("app", 2, ("b",)),
    ]
    assert g.stage_of("c") == 0 and g.stage_of("b") == 2 and g.stage_of("nope") is None


def test_edges_are_known_same_stage_deps_once() -> None:
    g = DependencyGraph(
        [
            Node("a", "g"),
            Node("b", "g", ("a", "a", "b", "ghost", "x")),  # twice, itself, unknown, other stage
            Node("x", "h"),
        ]
    )
    assert g.depends_on("b") == ("a",)
    assert g.waits_for("b") == ("a",)
    assert g.depends_on("ghost") == ()


def test_first_op_of_a_duplicated_id_counts() -> None:
    g = DependencyGraph([Node("a", "g"), Node("a", "h", ("z",))])
    assert g.ids == ["a"] and g.stage_of("a") == 0


def test_order_puts_dependencies_first_and_file_order_among_the_ready() -> None:
    g = DependencyGraph(
        [
            Node("web", "g", ("api",)),
            Node("api", "g", ("db", "cache")),
            Node("db", "g"),
            Node("cache", "g", ("db",)),
            Node("lone", "g"),
        ]
    )
    assert g.order() == ["db", "cache", "api", "web", "lone"]
    assert g.order(["web", "api", "lone"]) == ["api", "web", "lone"]  # edges among those only


def test_order_puts_a_cycle_and_what_waits_on_it_last_in_file_order() -> None:
    g = DependencyGraph(
        [
            Node("a", "g", ("c",)),
            Node("b", "g", ("a",)),
            Node("c", "g", ("b",)),
            Node("d", "g", ("a",)),
            Node("e", "g"),
        ]
    )
    assert g.order() == ["e", "a", "b", "c", "d"]


def test_cycles_are_paths_from_their_first_op_in_the_file() -> None:
    g = DependencyGraph([Node("a", "g", ("c",)), Node("b", "g", ("a",)), Node("c", "g", ("b",))])
    assert g.cycles() == [["a", "c", "b", "a"]]  # a waits for c, c for b, b for a


def test_every_distinct_cycle_is_reported_once() -> None:
    g = DependencyGraph(
        [Node("a", "g", ("b", "c")), Node("b", "g", ("a",)), Node("c", "g", ("a",))]
    )
    assert sorted(g.cycles()) == [["a", "b", "a"], ["a", "c", "a"]]
    assert DependencyGraph([Node("a", "g", ("b",)), Node("b", "g")]).cycles() == []


def test_a_serving_op_starts_first_and_is_waited_for() -> None:
    # server serves bench (stop_if_dependent_stops); bench also names server: no deadlock
    g = DependencyGraph(
        [Node("server", "p", ("bench",), serves=True), Node("bench", "p", ("server",))]
    )
    assert g.waits_for("server") == ()
    assert g.waits_for("bench") == ("server",)
    assert g.serves("server") == ("bench",) and g.serves("bench") == ()
    assert g.cycles() == []


def test_plan_stages_come_from_the_graph() -> None:
    ops: list[dict[str, Any]] = [
        {
            "type": "container/run",
            "id": i,
            "args": {"image": "busybox"},
            "execution": {"group": grp},
        }
        for i, grp in (("a", "x"), ("b", "y"), ("c", "x"))
    ]
    job = JobDefinition.model_validate({"version": "0.1", "type": "container", "ops": ops})
    assert stages(job) == DependencyGraph.of_job(job).stages
    assert [(s.name, s.ops) for s in stages(job)] == [("x", ("a", "c")), ("y", ("b",))]


def _validate_codes(ops: list[dict[str, Any]]) -> list[tuple[str, str]]:
    from nosana_tui.jobformat.validate import validate_data

    _, diags = validate_data({"version": "0.1", "type": "container", "ops": ops})
    return [(d.code, d.message) for d in diags if d.code == "dependency-cycle"]


def _op(op_id: str, deps: list[str], **execution: Any) -> dict[str, Any]:
    return {
        "type": "container/run",
        "id": op_id,
        "args": {"image": "busybox"},
        "execution": {"group": "g", "depends_on": deps, **execution},
    }


def test_validate_reports_the_graphs_cycles() -> None:
    ops = [_op("a", ["c"]), _op("b", ["a"]), _op("c", ["b"])]
    assert _validate_codes(ops) == [("dependency-cycle", "dependency cycle: a -> c -> b -> a")]


def test_validate_sees_no_cycle_where_a_serving_op_starts_first() -> None:
    ops = [_op("server", ["bench"], stop_if_dependent_stops=True), _op("bench", ["server"])]
    assert _validate_codes(ops) == []
