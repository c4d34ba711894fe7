"""A job's dependency graph: its stages, the ``depends_on`` edges, their order and their cycles.

The one home of these rules; ``validate`` reports on it, the engine starts ops by it and the UI
draws it.

- Stages run in the order in which their ``execution.group`` first appears in ``ops``; an op
  without a group is a stage of its own, named after the op (as the Nosana node does).
- An edge is a ``depends_on`` entry that names another op of the same stage (each once): a
  dependency on an unknown op, on the op itself or across stages is an error that ``validate``
  reports, and no edge.
- ``stop_if_dependent_stops: true`` (the newer meaning): the op *serves* the ops it names in
  ``depends_on``; it starts first and they wait for it (:meth:`DependencyGraph.waits_for`).
- Order and cycles come from :class:`graphlib.TopologicalSorter`; among ops that could go next,
  file order wins.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nosana_tui.jobformat.model import JobDefinition


@dataclass(frozen=True)
class Stage:
    """One stage: the ops of one group, in file order."""

    name: str
    index: int
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    """One op as the graph sees it."""

    id: str
    group: str
    depends_on: tuple[str, ...] = ()
    serves: bool = False  # execution.stop_if_dependent_stops


class DependencyGraph:
    """The graph of a list of ops (the first op of a duplicated id counts)."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            self._nodes.setdefault(node.id, node)
        groups: dict[str, list[str]] = {}
        for node in self._nodes.values():
            groups.setdefault(node.group, []).append(node.id)
        self.stages = [Stage(name, i, tuple(ids)) for i, (name, ids) in enumerate(groups.items())]
        self._stage = {op_id: s.index for s in self.stages for op_id in s.ops}
        self._index = {op_id: i for i, op_id in enumerate(self._nodes)}
        self._edges = {
            node.id: tuple(
                d
                for d in dict.fromkeys(node.depends_on)
                if d != node.id and self._stage.get(d) == self._stage[node.id]
            )
            for node in self._nodes.values()
        }
        served: dict[str, list[str]] = {op_id: [] for op_id in self._nodes}
        for node in self._nodes.values():
            if node.serves:
                for d in self._edges[node.id]:
                    served[d].append(node.id)
        self._waits = {
            node.id: tuple(
                dict.fromkeys([*(() if node.serves else self._edges[node.id]), *served[node.id]])
            )
            for node in self._nodes.values()
        }

    @classmethod
    def of_job(cls, job: JobDefinition) -> DependencyGraph:
        return cls(
            Node(
                op.id,
                op.group,
                tuple(op.depends_on),
                bool(op.execution is not None and op.execution.stop_if_dependent_stops),
            )
            for op in job.ops
        )

    # --- edges ------------------------------------------------------------------------------------

    @property
    def ids(self) -> list[str]:
        return list(self._nodes)

    def stage_of(self, op_id: str) -> int | None:
        """The index of the op's stage."""
        return self._stage.get(op_id)

    def depends_on(self, op_id: str) -> tuple[str, ...]:
        """The op's edges as written: the ops of its stage that it names in ``depends_on``."""
        return self._edges.get(op_id, ())

    def waits_for(self, op_id: str) -> tuple[str, ...]:
        """The ops that must be ready before this one starts: its ``depends_on``, unless it
        serves them, and every op that serves it."""
        return self._waits.get(op_id, ())

    def serves(self, op_id: str) -> tuple[str, ...]:
        """The ops this one serves (``stop_if_dependent_stops``): it stops once they have ended."""
        node = self._nodes.get(op_id)
        return self._edges[op_id] if node is not None and node.serves else ()

    # --- order and cycles -------------------------------------------------------------------------

    def order(self, op_ids: Sequence[str] | None = None) -> list[str]:
        """``op_ids`` (default: every op) so that each comes after those it depends on among them,
        file order among the ones that could go next; ops in a cycle, or waiting on one, last in
        file order (a definition that did not validate)."""
        ids = [i for i in dict.fromkeys(self.ids if op_ids is None else op_ids) if i in self._nodes]
        chosen = set(ids)
        graph = {i: [d for d in self._edges[i] if d in chosen] for i in ids}
        _, blocked = _cycles(graph)
        sorter = TopologicalSorter({i: [d for d in graph[i]] for i in ids if i not in blocked})
        sorter.prepare()
        ready = [(self._index[i], i) for i in sorter.get_ready()]
        heapq.heapify(ready)
        out: list[str] = []
        while ready:
            _, op_id = heapq.heappop(ready)
            out.append(op_id)
            sorter.done(op_id)
            for nxt in sorter.get_ready():
                heapq.heappush(ready, (self._index[nxt], nxt))
        out.extend(i for i in ids if i in blocked)
        return out

    def cycles(self) -> list[list[str]]:
        """Every cycle of the start order (:meth:`waits_for`) that stops its ops from ever
        starting, as a path ``[a, b, ..., a]`` in which each op waits for the next, beginning
        with its op that comes first in the file. Each distinct set of ops is reported once."""
        found, _ = _cycles({i: list(self._waits[i]) for i in self._nodes})
        out: list[list[str]] = []
        seen: set[frozenset[str]] = set()
        for path in found:
            ring = path[:-1]
            if frozenset(ring) in seen:
                continue
            seen.add(frozenset(ring))
            start = min(range(len(ring)), key=lambda k: self._index[ring[k]])
            ring = ring[start:] + ring[:start]
            out.append([*ring, ring[0]])
        return out


def _cycles(graph: dict[str, list[str]]) -> tuple[list[list[str]], set[str]]:
    """The cycles of ``graph`` (op -> the ops it waits for), each as a path in which every op
    waits for the next, and the ops caught in one or waiting on one.

    ``TopologicalSorter.prepare`` names one cycle at a time; taking out one of its edges and
    asking again finds the next, until none is left (every cycle loses an edge on the way, and
    the ops of the cycles found are what any other cycle passes through)."""
    work = {op: list(deps) for op, deps in graph.items()}
    found: list[list[str]] = []
    while True:
        try:
            TopologicalSorter(work).prepare()
            break
        except CycleError as err:
            path: list[str] = list(err.args[1])  # each op is a dependency of the next
            found.append(path[::-1])
            work[path[1]].remove(path[0])
    caught = {op for path in found for op in path}
    dependants: dict[str, list[str]] = {op: [] for op in graph}
    for op, deps in graph.items():
        for d in deps:
            dependants.setdefault(d, []).append(op)
    blocked = set(caught)
    stack = list(caught)
    while stack:
        for op in dependants.get(stack.pop(), []):
            if op not in blocked:
                blocked.add(op)
                stack.append(op)
    return found, blocked
