"""What the Docker engine itself costs for the pipeline's containers, call by call: the floor under
any tool (a diagnostic beside bringup.py; prints figures, touches nothing but its own containers).

    .venv/bin/python bench/docker_floor.py [-n 5]

Per repetition, on a fresh bridge network:

- bring-up "as the agent does it": per stage, two ops in parallel threads, each
  ``inspect_image`` (has_image) -> ``inspect_container`` by name (404) -> ``create_container``
  -> ``start`` -> ``inspect_container`` (the published port), the five calls the agent makes;
- bring-up "minimal": the same with only create -> start -> inspect (what a fix could drop to);
- tear-down "as the agent does it": ``stop(t=0)`` + inspect per op in parallel, then list the
  job's containers, inspect each, and remove them one by one; list + remove the network;
- tear-down "parallel": ``remove_container(force=True)`` of the four in parallel + network.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docker
import docker.errors
from _common import fmt, print_machine

OPS = [("database", 5432), ("redis", 6379), ("api-server", 3000), ("web-frontend", 80)]
LABEL = "nosana-bench.floor"


def cmd(op: str, port: int) -> list[str]:
    return [
        "sh",
        "-c",
        f"mkdir -p /www && echo '<h1>{op}</h1>' > /www/index.html && "
        f"exec busybox httpd -f -p {port} -h /www",
    ]


def one_op(
    api: docker.APIClient,
    net: str,
    tag: str,
    op: str,
    port: int,
    full: bool,
    calls: dict[str, list[float]],
) -> str:
    def timed(key: str, fn, *a, **k):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            calls[key].append(time.perf_counter() - t)

    name = f"{tag}-{op}"
    if full:
        timed("inspect_image", api.inspect_image, "busybox:latest")
        with contextlib.suppress(docker.errors.NotFound):
            timed("inspect_container (404)", api.inspect_container, name)
    created = timed(
        "create_container",
        api.create_container,
        "busybox:latest",
        command=cmd(op, port),
        name=name,
        labels={LABEL: tag},
        ports=[port],
        host_config=api.create_host_config(port_bindings={port: ("127.0.0.1", None)}),
        networking_config=api.create_networking_config(
            {net: api.create_endpoint_config(aliases=[op])}
        ),
    )
    timed("start", api.start, created["Id"])
    timed("inspect_container", api.inspect_container, created["Id"])
    return str(created["Id"])


def bringup(
    api: docker.APIClient,
    tag: str,
    full: bool,
    calls: dict[str, list[float]],
    pool: ThreadPoolExecutor,
) -> tuple[float, list[str]]:
    net = tag
    t0 = time.perf_counter()
    api.create_network(net, driver="bridge", labels={LABEL: tag})
    ids: list[str] = []
    for stage in (OPS[:2], OPS[2:]):
        futures = [pool.submit(one_op, api, net, tag, op, port, full, calls) for op, port in stage]
        ids += [f.result() for f in futures]
    return time.perf_counter() - t0, ids


def teardown_agent_like(
    api: docker.APIClient, tag: str, ids: list[str], pool: ThreadPoolExecutor
) -> float:
    t0 = time.perf_counter()

    def stop(cid: str) -> None:
        api.stop(cid, timeout=0)
        api.inspect_container(cid)

    list(pool.map(stop, ids))
    for c in api.containers(all=True, filters={"label": f"{LABEL}={tag}"}):
        api.inspect_container(c["Id"])
    for c in api.containers(all=True, filters={"label": f"{LABEL}={tag}"}):
        api.remove_container(c["Id"], force=True, v=True)
    for n in api.networks(filters={"label": f"{LABEL}={tag}"}):
        api.remove_network(n["Id"])
    api.volumes(filters={"label": f"{LABEL}={tag}"})
    return time.perf_counter() - t0


def teardown_parallel(
    api: docker.APIClient, tag: str, ids: list[str], pool: ThreadPoolExecutor
) -> float:
    t0 = time.perf_counter()
    list(pool.map(lambda cid: api.remove_container(cid, force=True, v=True), ids))
    api.remove_network(tag)
    return time.perf_counter() - t0


def cleanup(api: docker.APIClient) -> None:
    for c in api.containers(all=True, filters={"label": LABEL}):
        if c["Labels"][LABEL].startswith(f"floor{os.getpid()}"):
            api.remove_container(c["Id"], force=True)
    for n in api.networks(filters={"label": LABEL}):
        if n["Name"].startswith(f"floor{os.getpid()}"):
            api.remove_network(n["Id"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args()
    print_machine()
    client = docker.from_env()
    api = client.api  # as the agent: docker.from_env(), calls from worker threads
    pool = ThreadPoolExecutor(8)
    res: dict[str, list[float]] = defaultdict(list)
    calls: dict[str, list[float]] = defaultdict(list)
    try:
        for i in range(args.n + 1):
            for full, down in ((True, teardown_agent_like), (False, teardown_parallel)):
                tag = f"floor{os.getpid()}-{i}-{'full' if full else 'min'}"
                c: dict[str, list[float]] = defaultdict(list)
                up, ids = bringup(api, tag, full, c, pool)
                td = down(api, tag, ids, pool)
                if i:  # first round is a warm-up
                    res[
                        "up " + ("agent-like (5 calls/op)" if full else "minimal (3 calls/op)")
                    ].append(up)
                    res["down " + ("agent-like" if full else "parallel remove")].append(td)
                    if full:
                        for k, v in c.items():
                            calls[k] += v
    finally:
        cleanup(api)
        pool.shutdown()
        client.close()
    print(f"\nengine floor for the pipeline (4 containers, 2 stages of 2 in parallel; n={args.n}):")
    for k, v in res.items():
        print(f"  {k:36} {fmt(v)}")
    print("per call, agent-like bring-up (two calls in flight at a time):")
    for k, v in calls.items():
        print(f"  {k:36} {fmt(v, 'ms', 1000)}")
    total = {k: statistics.median(v) for k, v in calls.items()}
    print(f"  sum of medians per op: {sum(total.values()) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
