"""S3 resources on the real agent and the real Docker engine, fetched from moto in server mode
(a real S3 server on loopback, with IAM authentication on).

Each job's op (busybox) reads the mounted files and prints their sha256; they must be the bytes
uploaded. Failures must fail the op with S3's own words and leave no volume behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nosana_tui.api.models import JobStatus, OpStatus
from tests.node.conftest import AgentProcess, job, op_log, system_log
from tests.resources.conftest import (
    S3Server,
    checksum_op,
    endpoints,
    failed_with,
    made,
    resource_agent,
    resource_volumes,
    run_job,
    sha256,
    sums,
)

pytestmark = pytest.mark.anyio

FILES = {
    "weights.bin": os.urandom(12 << 20),  # big enough for a fetch to take a measurable while
    "config.json": b'{"layers": 2}\n',
    "tokenizer/vocab.txt": b"a\nb\nc\n",
}


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> str:
    name = f"models-{uuid.uuid4().hex[:10]}"
    client = s3_server.client()
    client.create_bucket(Bucket=name)
    for key, data in FILES.items():
        client.put_object(Bucket=name, Key=f"llm/{key}", Body=data)
    client.put_object(Bucket=name, Key="elsewhere/other.txt", Body=b"not fetched\n")
    return name


@pytest.fixture(scope="module")
def s3_agent(
    s3_server: S3Server, docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AgentProcess]:
    with resource_agent(tmp_path_factory.mktemp("s3-agent"), endpoints(s3=s3_server)) as proc:
        yield proc


def s3_resource(server: S3Server, bucket: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "S3",
        "url": f"s3://{bucket}/llm",
        "target": "/models",
        "IAM": server.iam(),
        **extra,
    }


async def test_files_arrive_checksummed_read_only_and_are_reused(
    s3_agent: AgentProcess, s3_server: S3Server, bucket: str
) -> None:
    definition = job(checksum_op("/models", resources=[s3_resource(s3_server, bucket)]))
    async with s3_agent.client() as client:
        first = await run_job(client, definition)
        assert first.status is JobStatus.SUCCESS, first.model_dump_json(indent=1)
        out = await op_log(client, first.id, "read")
        assert sums(out) == {name: sha256(data) for name, data in FILES.items()}
        assert "READ-ONLY" in out  # mounted read-only: no allowWrite
        log = "\n".join(await system_log(client, first.id))
        fetch = first.ops[0].fetch[0]
        assert f"fetching S3 s3://{bucket}/llm into volume {fetch.volume}" in log
        assert "fetched S3" in log and "3/3 files" in log
        total = sum(len(d) for d in FILES.values())
        assert (fetch.done, fetch.cached, fetch.bytes_done, fetch.bytes_total) == (
            True,
            False,
            total,
            total,
        )
        assert (fetch.files_done, fetch.files_total, fetch.target) == (3, 3, "/models")
        assert fetch.rate and fetch.rate > 0
        labels = resource_volumes()[fetch.volume]
        assert labels["nosana-tui.resource.kind"] == "S3"
        assert bucket in labels["nosana-tui.resource.source"]

        second = await run_job(client, definition)
        assert second.status is JobStatus.SUCCESS
        assert sums(await op_log(client, second.id, "read")) == sums(out)
        log2 = "\n".join(await system_log(client, second.id))
        assert f"reused cached volume {fetch.volume}" in log2
        assert "fetching S3" not in log2
        reused = second.ops[0].fetch[0]
        assert reused.cached and reused.volume == fetch.volume

        # measured: the time from the job's start to its op's container start
        def took(view: Any) -> float:
            return float(view.ops[0].started_at - view.created_at)

        assert took(second) < took(first), (took(first), took(second))


async def test_allow_write_gets_its_own_writable_volume(
    s3_agent: AgentProcess, s3_server: S3Server, bucket: str
) -> None:
    resource = s3_resource(s3_server, bucket, files=["config.json"], allowWrite=True)
    async with s3_agent.client() as client:
        view = await run_job(client, job(checksum_op("/models", resources=[resource])))
        assert view.status is JobStatus.SUCCESS
        out = await op_log(client, view.id, "read")
        assert sums(out) == {"config.json": sha256(FILES["config.json"])}
        assert "WRITABLE" in out


async def test_bucket_and_buckets_forms(
    s3_agent: AgentProcess, s3_server: S3Server, bucket: str
) -> None:
    by_bucket = {
        "type": "S3",
        "bucket": bucket,
        "url": "llm/tokenizer",
        "target": "/tok",
        "IAM": s3_server.iam(),
    }
    by_list = {
        "type": "S3",
        "buckets": [
            {"url": f"s3://{bucket}/llm", "files": ["config.json"]},
            {"url": f"s3://{bucket}/elsewhere"},
        ],
        "target": "/many",
        "IAM": s3_server.iam(),
    }
    definition = job(
        checksum_op("/tok", op_id="tok", resources=[by_bucket]),
        checksum_op("/many", op_id="many", resources=[by_list]),
    )
    async with s3_agent.client() as client:
        view = await run_job(client, definition)
        assert view.status is JobStatus.SUCCESS, view.model_dump_json(indent=1)
        assert sums(await op_log(client, view.id, "tok")) == {
            "vocab.txt": sha256(FILES["tokenizer/vocab.txt"])
        }
        assert sums(await op_log(client, view.id, "many")) == {
            "config.json": sha256(FILES["config.json"]),
            "other.txt": sha256(b"not fetched\n"),
        }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "IAM": {
                    "REGION": "us-east-1",
                    "ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG1",
                    "SECRET_ACCESS_KEY": "wrong-secret",
                }
            },
            "InvalidAccessKeyId",
        ),
        ({"url": "s3://no-such-bucket-here/llm"}, "NoSuchBucket"),
        ({"files": ["missing.bin"]}, "file missing.bin not found"),
        ({"url": "s3://{bucket}/nothing-under-here"}, "no objects there"),
    ],
    ids=["wrong-credentials", "missing-bucket", "missing-file", "empty-prefix"],
)
async def test_failures_name_what_is_missing_and_leave_no_volume(
    s3_agent: AgentProcess, s3_server: S3Server, bucket: str, change: dict[str, Any], expected: str
) -> None:
    resource = s3_resource(s3_server, bucket)
    resource.update(json.loads(json.dumps(change).replace("{bucket}", bucket)))
    before = made(
        endpoints(s3=s3_server), resource
    )  # a complete volume an earlier test cached may stay
    async with s3_agent.client() as client:
        view, log = await failed_with(client, job(checksum_op("/models", resources=[resource])))
    op = view.ops[0]
    assert op.status is OpStatus.FAILED
    assert expected in op.message and "S3 resource" in op.message, op.message
    assert expected in log
    assert made(endpoints(s3=s3_server), resource) == before  # nothing new, nothing half-made
    assert not (s3_agent.data_dir / "downloads").exists() or not any(
        (s3_agent.data_dir / "downloads").iterdir()
    )


async def test_credentials_reach_no_log_database_or_output(
    s3_agent: AgentProcess, s3_server: S3Server, bucket: str
) -> None:
    wrong = {
        "REGION": "us-east-1",
        "ACCESS_KEY_ID": "AKIASECRETPROBE00001",
        "SECRET_ACCESS_KEY": "probe-secret-never-shown",
    }
    async with s3_agent.client() as client:
        ok = await run_job(
            client, job(checksum_op("/models", resources=[s3_resource(s3_server, bucket)]))
        )
        failed = await run_job(
            client,
            job(checksum_op("/models", resources=[s3_resource(s3_server, bucket, IAM=wrong)])),
        )
        assert failed.status is JobStatus.FAILED
        texts = []
        for view in (ok, failed):
            texts += await system_log(client, view.id)
            texts += await op_log(client, view.id, "read")
            texts.append(json.dumps(await client.definition(view.id)))
    env = s3_agent.env
    for args in (["ps", "--json"], ["ps", ok.id, "--json"], ["ps", failed.id, "--json"]):
        shown = subprocess.run(
            [sys.executable, "-m", "nosana_tui", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        texts.append(shown.stdout + shown.stderr)
    secrets = [
        s3_server.secret,
        s3_server.key_id,
        wrong["SECRET_ACCESS_KEY"],
        wrong["ACCESS_KEY_ID"],
    ]
    joined = "\n".join(texts)
    assert failed.id in joined  # (the outputs were read)
    for secret in secrets:
        assert secret not in joined
        for path in Path(s3_agent.data_dir).rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{secret[:4]}… in {path}"
