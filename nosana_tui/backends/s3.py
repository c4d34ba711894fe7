"""S3 resources over boto3: ``{url, files}``, ``{bucket, url}`` or ``{buckets: [{url, files}]}``.

``url`` is ``s3://BUCKET/PREFIX``, or an ``https://`` address of a bucket (path style,
``https://HOST/BUCKET/PREFIX``, or AWS's ``https://BUCKET.s3.REGION.amazonaws.com/PREFIX``).
With ``bucket`` the ``url`` is the prefix inside it. ``files`` are keys under the prefix;
without them everything under the prefix is fetched. Each object lands in the volume at its
key less the prefix. Without ``IAM`` requests are unsigned (a public bucket); the agent's own
AWS credentials are never used for a job.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nosana_tui.engine.resources import FetchError, FetchProgress
from nosana_tui.jobformat import model as m

CHUNK = 1 << 20
ATTEMPTS = 3  # a broken transfer of one object is tried again this many times in all
_AWS_HOST = re.compile(r"^(?P<bucket>.+)\.s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com$")


@dataclass(frozen=True)
class S3Source:
    endpoint: str | None  # None: the configured endpoint (AWS when none is)
    bucket: str
    prefix: str
    files: tuple[str, ...] | None

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        if self.files:
            where += f" ({len(self.files)} file{'s' if len(self.files) != 1 else ''})"
        return where


def _parse(url: str, bucket: str | None = None) -> tuple[str | None, str, str]:
    """(endpoint or None, bucket, prefix) of a resource's url."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        found_bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
        if bucket and found_bucket != bucket:
            raise FetchError(f"url {url} names bucket {found_bucket!r}, not {bucket!r}")
        return None, found_bucket, prefix
    if parsed.scheme in ("http", "https") and parsed.netloc:
        endpoint = f"{parsed.scheme}://{parsed.netloc}"
        path = parsed.path.lstrip("/")
        aws = _AWS_HOST.match(parsed.hostname or "")
        if aws:
            return None, aws.group("bucket"), path
        found_bucket, _, prefix = path.partition("/")
        if not found_bucket:
            raise FetchError(f"url {url} names no bucket: write https://HOST/BUCKET/PREFIX")
        return endpoint, found_bucket, prefix
    if bucket:  # with `bucket`, a bare url is the prefix inside it
        return None, bucket, url.lstrip("/")
    raise FetchError(f"url {url!r} is not an S3 address: write s3://BUCKET/PREFIX")


def sources(resource: m.S3Resource) -> list[S3Source]:
    def one(url: str | None, files: list[str] | None, bucket: str | None) -> S3Source:
        endpoint, name, prefix = _parse(url or "", bucket) if url else (None, bucket or "", "")
        return S3Source(endpoint, name, prefix, tuple(files) if files else None)

    if resource.buckets:
        return [one(b.url, b.files, None) for b in resource.buckets]
    return [one(resource.url, resource.files, resource.bucket)]


def _relative(key: str, prefix: str) -> str:
    if key == prefix:
        return posixpath.basename(key)
    rest = key[len(prefix) :] if key.startswith(prefix) else key
    return rest.lstrip("/")


def _join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    return prefix.rstrip("/") + "/" + name.lstrip("/")


class S3Fetcher:
    def __init__(self, endpoint: str = "", region: str = "us-east-1") -> None:
        self.endpoint = endpoint.rstrip("/") or None  # None: AWS
        self.region = region

    def identity(self, resource: m.S3Resource) -> dict[str, Any]:
        return {
            "sources": [
                [s.endpoint or self.endpoint or "aws", s.bucket, s.prefix, list(s.files or [])]
                for s in sources(resource)
            ]
        }

    def describe(self, resource: m.S3Resource) -> str:
        return "S3 " + ", ".join(s.describe() for s in sources(resource))

    def _client(self, resource: m.S3Resource, endpoint: str | None) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        options: dict[str, Any] = {"retries": {"max_attempts": 3, "mode": "standard"}}
        if endpoint:
            options["s3"] = {"addressing_style": "path"}
        credentials: dict[str, Any] = {}
        if resource.IAM is not None:
            credentials = {
                "aws_access_key_id": resource.IAM.ACCESS_KEY_ID,
                "aws_secret_access_key": resource.IAM.SECRET_ACCESS_KEY,
            }
        else:
            options["signature_version"] = UNSIGNED
        session = boto3.session.Session()  # not the default one: no profile, no env credentials
        return session.client(
            "s3",
            endpoint_url=endpoint,
            region_name=(resource.IAM.REGION if resource.IAM else None) or self.region,
            config=Config(**options),
            **credentials,
        )

    def authorize(self, resource: m.S3Resource) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for source in sources(resource):
            endpoint = source.endpoint or self.endpoint
            try:
                client = self._client(resource, endpoint)
                client.list_objects_v2(Bucket=source.bucket, Prefix=source.prefix, MaxKeys=1)
            except ClientError as err:
                raise FetchError(f"s3://{source.bucket}/{source.prefix}: {err}") from None
            except BotoCoreError:
                return  # unreachable: the cached copy is all there is

    def fetch(
        self,
        resource: m.S3Resource,
        dest: Path,
        progress: Callable[[FetchProgress], None],
        cancel: threading.Event,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        plan: list[tuple[Any, S3Source, str, Path, int]] = []
        for source in sources(resource):
            endpoint = source.endpoint or self.endpoint
            where = f"s3://{source.bucket}/{source.prefix}".rstrip("/")
            if endpoint:
                where += f" at {endpoint}"
            try:
                client = self._client(resource, endpoint)
                for key, size in self._objects(client, source, where):
                    plan.append((client, source, key, dest / _relative(key, source.prefix), size))
            except ClientError as err:
                raise FetchError(f"{where}: {err}") from None
            except BotoCoreError as err:
                raise FetchError(f"{where}: {err}") from None
        total = sum(p[4] for p in plan)
        done = 0
        progress(FetchProgress(0, total, 0, len(plan)))
        for index, (client, source, key, path, size) in enumerate(plan):
            if not path.resolve().is_relative_to(dest.resolve()):
                raise FetchError(f"object {key} would land outside the target; refused")
            path.parent.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    got = self._download(
                        client,
                        source.bucket,
                        key,
                        path,
                        cancel,
                        done,
                        total,
                        index,
                        len(plan),
                        progress,
                    )
                except (ClientError, BotoCoreError, OSError) as err:
                    if cancel.is_set():
                        raise FetchError("stopped") from None
                    if attempt == ATTEMPTS or isinstance(err, ClientError):
                        raise FetchError(f"s3://{source.bucket}/{key}: {err}") from None
                    continue
                if got != size:
                    if attempt == ATTEMPTS:
                        raise FetchError(
                            f"s3://{source.bucket}/{key}: the transfer broke off after {got} of "
                            f"{size} bytes ({ATTEMPTS} tries)"
                        )
                    continue
                break
            done += size
            progress(FetchProgress(done, total, index + 1, len(plan)))

    def _objects(self, client: Any, source: S3Source, where: str) -> list[tuple[str, int]]:
        from botocore.exceptions import ClientError

        if source.files:
            found = []
            for name in source.files:
                key = _join(source.prefix, name)
                try:
                    head = client.head_object(Bucket=source.bucket, Key=key)
                except ClientError as err:
                    code = str(err.response.get("Error", {}).get("Code", ""))
                    if code in ("404", "NoSuchKey", "NotFound"):
                        # a HEAD's answer has no body: a listing says whether the bucket is there
                        client.list_objects_v2(Bucket=source.bucket, MaxKeys=1)
                        raise FetchError(f"{where}: file {name} not found (key {key})") from None
                    raise
                found.append((key, int(head.get("ContentLength") or 0)))
            return found
        found = []
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=source.bucket, Prefix=source.prefix
        )
        for page in pages:
            for item in page.get("Contents") or []:
                if not item["Key"].endswith("/"):  # a "folder" marker
                    found.append((item["Key"], int(item.get("Size") or 0)))
        if not found:
            raise FetchError(f"{where}: no objects there")
        return found

    @staticmethod
    def _download(
        client: Any,
        bucket: str,
        key: str,
        path: Path,
        cancel: threading.Event,
        before: int,
        total: int,
        index: int,
        count: int,
        progress: Callable[[FetchProgress], None],
    ) -> int:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        got = 0
        with path.open("wb") as out:
            for chunk in body.iter_chunks(CHUNK):
                if cancel.is_set():
                    raise FetchError("stopped")
                out.write(chunk)
                got += len(chunk)
                progress(FetchProgress(before + got, total, index, count))
        return got
