"""A stand-in of the Nosana gateway, the Pinata pin service and the IPFS gateway: a real HTTP
server (FastAPI + uvicorn on 127.0.0.1, in a thread), for the client and the CLI to talk to.

Every request body and every answer is checked against the JSON schemas exported from the
pinned npm ``@nosana/api`` (tests/network/package.json; ``schemas.ts`` names them,
``export-schemas.mjs`` writes them). A mismatch is recorded in ``Standin.violations`` and
answered 500, and the tests assert that there are none: when the schemas move, a test fails.

Behaviours (shared/reference/nosana-network.md §1.3, §5.3): Bearer keys with scopes, 402 when
out of credits, 403 naming a missing scope, idempotent ``POST /jobs/list`` (same key and body:
the same job; same key, other body: 409), ``timeout`` under an hour: 400, a paged, rate-limited
``GET /jobs/`` (429 with ``Retry-After`` when the test asks), stop and extend (terminal jobs:
200 no-ops with ``tx: null``), and jobs that move QUEUED → RUNNING → COMPLETED when the test says.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import base58
import httpx
import jsonschema
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from nacl.signing import SigningKey

from nosana_tui.auth.address import address_of
from nosana_tui.auth.signing import sign
from nosana_tui.client.node import NodeClient, NodeError, signed_by

QUEUED_NODE = "1" * 32
# The API key's custodial wallet (the poster, ``project``, of every job it lists) and the node's
# key: real ed25519 keys, so that our agent under ``--auth nosana`` checks real signatures.
PROJECT_KEY = SigningKey(hashlib.sha256(b"stand-in custodial wallet").digest())
PROJECT_SECRET = bytes(PROJECT_KEY) + bytes(PROJECT_KEY.verify_key)
PROJECT = address_of(bytes(PROJECT_KEY.verify_key))
NODE = address_of(bytes(SigningKey(hashlib.sha256(b"stand-in node").digest()).verify_key))
ALL_SCOPES = frozenset(
    {
        "credits:read",
        "jobs:read",
        "jobs:write",
        "deployments:read",
        "deployments:write",
        "wallet:sign",
    }
)

# Where the pinned schema (2.1.8, the dashboard gateway's) is older than the Client Manager's
# newer one (reference §1.3): stop and extend on a terminal job answer ``tx: null`` without
# ``credits``; stop adds ``outcome``. The overlay widens exactly these, nothing else.
OVERLAYS: dict[str, list[tuple[tuple[str, ...], Any]]] = {
    "StopResponse": [
        (("properties", "tx"), {"type": ["string", "null"]}),
        (("properties", "outcome"), {"enum": ["delisted", "ended", "already_terminal"]}),
    ],
    "ExtendResponse": [
        (("properties", "tx"), {"type": ["string", "null"]}),
        (("required",), ["tx", "job"]),
    ],
    # the CM schema's ``includeTime`` and ``timestamp`` (reference §1.3 auth helpers, §2.3)
    "SignMessageRequest": [(("properties", "includeTime"), {"type": "boolean"})],
    "SignMessageResponse": [(("properties", "timestamp"), {"type": "number"})],
}

# Not in @nosana/api at all (the indexer's list and the key check): written from the indexer's
# model (IDX model.ts@46cd6e7, service.ts getJobs) and the CM schema (reference §1.3).
JOB_ROW_EXTRA = {"address": {"type": "string"}, "id": {"type": "number"}}
VALIDATE_KEY_RESPONSE = {
    "type": "object",
    "required": ["valid"],
    "properties": {
        "valid": {"type": "boolean"},
        "user": {
            "type": "object",
            "required": ["id", "generatedAddress"],
            "properties": {"id": {"type": "string"}, "generatedAddress": {"type": "string"}},
        },
        "scopes": {"type": "array", "items": {"type": "string"}},
    },
}

# The stream's frames are in no published schema: written from the Deployment Manager's
# streamDeploymentEvents.ts (reference §1.3, "Stream frames").
DEPLOYMENT_FRAME = {
    "oneOf": [
        {
            "type": "object",
            "required": ["type", "status", "replicas", "active_revision"],
            "properties": {"type": {"const": "deployment"}},
        },
        {
            "type": "object",
            "required": ["type", "job", "state", "node", "timeStart", "timeEnd"],
            "properties": {"type": {"const": "job"}},
        },
        {
            "type": "object",
            "required": ["type", "category", "event", "message", "created_at"],
            "properties": {"type": {"const": "event"}},
        },
        {
            "type": "object",
            "required": ["type", "id", "task", "status"],
            "properties": {"type": {"const": "task"}},
        },
    ]
}


def load_schemas(folder: Path) -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        schema = json.loads(path.read_text())
        for where, value in OVERLAYS.get(path.stem, []):
            target = schema
            for key in where[:-1]:
                target = target[key]
            target[where[-1]] = value
        schemas[path.stem] = schema
    row = copy.deepcopy(schemas["JobResponse"])
    row["properties"].update(JOB_ROW_EXTRA)
    row.pop("$schema", None)
    schemas["JobPage"] = {
        "type": "object",
        "required": ["jobs", "totalJobs"],
        "additionalProperties": False,
        "properties": {"jobs": {"type": "array", "items": row}, "totalJobs": {"type": "number"}},
    }
    schemas["ValidateKeyResponse"] = VALIDATE_KEY_RESPONSE
    # the generator resolves the create body's nested JobDefinition to all of `components`
    # (schemas.ts): the JobDefinition it exports at the top goes in its place
    create = schemas["DeploymentCreateRequest"]
    definition = copy.deepcopy(schemas.pop("DeploymentJobDefinition"))
    definition.pop("$schema", None)
    create.setdefault("definitions", {}).update(definition.pop("definitions", {}))
    for name, found in list(create["definitions"].items()):
        if "schemas" in found.get("properties", {}):
            create["definitions"][name] = definition
    schemas["DeploymentFrame"] = DEPLOYMENT_FRAME
    return schemas


def cid_v0(data: bytes) -> str:
    """A CIDv0-shaped name (base58btc of a sha2-256 multihash) of the bytes. Pinata's real CID
    hashes the UnixFS DAG, not the raw bytes; the client only checks the shape."""
    return str(base58.b58encode(b"\x12\x20" + hashlib.sha256(data).digest()).decode())


@dataclass
class Key:
    scopes: frozenset[str] = ALL_SCOPES
    credits: float = 100.0


@dataclass
class Standin:
    schemas: dict[str, dict[str, Any]]
    keys: dict[str, Key] = field(default_factory=dict)
    markets: list[dict[str, Any]] = field(default_factory=list)
    pinned: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)  # every POST /jobs/list that listed
    requests: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer once each, in order
    fail_path: str = ""  # ... to requests to this path only ("": any)
    lose_next_listing: int = 0  # list the job, then answer 504 as if the answer were lost
    rate_limit_next: int = 0  # answer this many GET /jobs/ with 429
    retry_after: int = 1
    url: str = ""
    agent_url: str = ""  # a real node (our agent under --auth nosana) the jobs are assigned to
    assign_on_post: bool = False  # assign each listed job to it at once (else: assign_job)
    on_node: dict[str, str] = field(default_factory=dict)  # job address -> the agent's job id
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    frames: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # deployment -> frames
    result_in_indexer: bool = False  # the indexer's jobResult holds the FlowState too
    drop_stream_after: int = 0  # close the next stream after this many frames (0: never)
    newer: bool = False  # a newer gateway: what the pinned schemas lack goes out (newer_seen)
    newer_seen: list[str] = field(default_factory=list)
    slow_path: str = ""  # requests to a path ending so are answered after slow_seconds
    slow_seconds: float = 0.0
    streams_opened: int = 0

    # --- a real node: what a node does when it takes a job from the market

    def _agent(self) -> NodeClient:
        return NodeClient(self.agent_url, None, auth=signed_by(PROJECT_SECRET), poster=PROJECT)

    async def assign(self, address: str) -> None:
        """The node takes the job: reads its definition from IPFS (our gateway) and runs it,
        signed by the poster as a submission to our agent is; the job is RUNNING on NODE."""
        job = self.jobs[address]
        async with httpx.AsyncClient(trust_env=False) as http:
            response = await http.get(f"{self.url}/ipfs/{job['ipfsJob']}")
            response.raise_for_status()
            definition = response.json()
        async with self._agent() as agent:
            view = await agent.submit(definition, name=address[:12], source=f"nosana:{address}")
        self.on_node[address] = view.id
        job.update(state=1, node=NODE, timeStart=int(time.time()))

    def assign_job(self, address: str) -> None:
        """:meth:`assign` from a test (another thread than the server's)."""
        import asyncio

        asyncio.run(self.assign(address))

    async def follow_node(self, address: str) -> None:
        """A running job whose run on the node has ended: COMPLETED (or STOPPED), as the
        node's finish transaction makes it; its result pinned."""
        job, job_id = self.jobs.get(address), self.on_node.get(address)
        if job is None or job_id is None or job["state"] != 1:
            return
        try:
            async with self._agent() as agent:
                view = await agent.job(job_id)
        except NodeError:
            return
        if view.status.terminal:
            stopped = view.status.value == "stopped"
            job.update(state=3 if stopped else 2, timeEnd=int(time.time()))
            await self.pin_result(address, job_id, view)

    async def pin_result(self, address: str, job_id: str, view: Any) -> None:
        """What a node does when a job ends: its FlowState (op states, exit codes, each op's
        logs; reference nosana.md §2.4), checked against ``@nosana/types``' FlowState, pinned
        and named by ``ipfsResult``. The indexer's ``jobResult`` stays empty unless
        ``result_in_indexer`` (the client reads it from IPFS then)."""
        async with self._agent() as agent:
            entries = [e async for e in agent.logs(job_id) if not isinstance(e, int)]
        stream = {"stdout": "stdout", "stderr": "stderr"}
        flow = {
            "status": "success" if view.status.value == "success" else view.status.value,
            "startTime": int(view.created_at * 1000),
            "endTime": int((view.ended_at or time.time()) * 1000),
            "opStates": [
                {
                    "providerId": op.container_id,
                    "operationId": op.id,
                    "group": op.group,
                    "status": op.status.value,
                    "startTime": int(op.started_at * 1000) if op.started_at else None,
                    "endTime": int(op.ended_at * 1000) if op.ended_at else None,
                    "exitCode": op.exit_code,
                    "logs": [
                        {
                            "type": stream.get(e.stream, "nodeerr"),
                            "log": e.text + "\n",
                            "timestamp": str(int(e.ts * 1000)),
                        }
                        for e in entries
                        if e.op_id == op.id
                    ],
                    "diagnostics": {
                        "reason": {
                            "hostShutDown": False,
                            "jobStopped": view.status.value == "stopped",
                            "jobExpired": False,
                        }
                    },
                }
                for op in view.ops
            ],
        }
        self.check("FlowState", flow, "the FlowState a node pins")
        cid = cid_v0(json.dumps(flow, sort_keys=True).encode())
        self.pinned[cid] = flow
        job = self.jobs[address]
        job["ipfsResult"] = cid
        job["jobResult"] = flow if self.result_in_indexer else None

    async def stop_on_node(self, address: str) -> None:
        job_id = self.on_node.get(address)
        if job_id is not None and self.jobs[address]["state"] == 1:
            async with self._agent() as agent:
                await agent.stop_job(job_id)

    # --- listing a job (POST /jobs/list, and a deployment's replicas)

    def new_job(self, market: dict[str, Any], ipfs: str, timeout: int, node: str = "") -> str:
        address = cid_v0(f"job{len(self.jobs)}".encode())[2:46]
        self.jobs[address] = {
            "address": address,
            "ipfsJob": ipfs,
            "ipfsResult": None,
            "market": market["address"],
            "node": node or QUEUED_NODE,
            "payer": PROJECT,
            "price": int(market["nos_job_price_per_second"] * 1e6),
            "project": PROJECT,
            "state": 0,
            "type": None,
            "jobDefinition": self.pinned[ipfs],
            "jobResult": None,
            "jobStatus": None,
            "timeEnd": 0,
            "timeStart": 0,
            "benchmarkProcessedAt": None,
            "timeout": timeout,
            "usdRewardPerHour": market["usd_reward_per_hour"],
            "listedAt": int(time.time()),
        }
        return address

    # --- deployments: the Deployment Manager behind the gateway

    def frame(self, deployment_id: str, frame: dict[str, Any]) -> None:
        self.check("DeploymentFrame", frame, "a frame of GET /deployments/{id}/stream")
        self.frames.setdefault(deployment_id, []).append(frame)

    def _deployment_frame(self, found: dict[str, Any]) -> None:
        self.frame(
            found["id"],
            {
                "type": "deployment",
                "status": found["status"],
                "replicas": found["replicas"],
                "active_revision": found["active_revision"],
            },
        )

    async def list_replicas(self, found: dict[str, Any], count: int) -> None:
        """List COUNT jobs of the deployment on its market (the DM's list task, timeout in
        minutes × 60); handed to our agent when ``assign_on_post``."""
        market = self.market(found["market"])
        assert market is not None
        for _ in range(count):
            address = self.new_job(market, found["ipfs"], found["timeout"] * 60)
            found["jobs"].append(
                {
                    "tx": "tx" + address[:40],
                    "job": address,
                    "deployment": found["id"],
                    "market": market["address"],
                    "revision": found["active_revision"],
                    "state": "QUEUED",
                    "time_start": 0,
                    "created_at": _now(),
                    "updated_at": _now(),
                }
            )
            self.frame(
                found["id"],
                {
                    "type": "event",
                    "category": "Event",
                    "event": "JOB_LISTED",
                    "message": f"job {address} listed",
                    "tx": "tx" + address[:40],
                    "created_at": _now(),
                },
            )
            self.frame(
                found["id"],
                {
                    "type": "job",
                    "job": address,
                    "state": "QUEUED",
                    "node": None,
                    "timeStart": 0,
                    "timeEnd": 0,
                },
            )
            if self.assign_on_post:
                await self.assign(address)

    def public(self, found: dict[str, Any]) -> dict[str, Any]:
        """The deployment as the API shows it (its live jobs counted, STARTING/STOPPING done)."""
        if found["status"] == "STARTING":
            found["status"] = "RUNNING"
            self._deployment_frame(found)
        elif found["status"] == "STOPPING":
            found["status"] = "STOPPED"
            self._deployment_frame(found)
        live = [j for j in found["jobs"] if self.jobs[j["job"]]["state"] < 2]
        found["active_jobs"] = len(live)
        return {k: v for k, v in found.items() if k not in ("jobs", "ipfs")}

    # --- what the tests drive

    def start_job(self, address: str) -> None:
        job = self.jobs[address]
        job.update(state=1, node=NODE, timeStart=int(time.time()) - 60)

    def ended_job(self, definition: dict[str, Any], flow: dict[str, Any]) -> str:
        """A job that ran on a node and has ended (COMPLETED), FLOW (checked against
        ``@nosana/types``' FlowState) pinned as its ``ipfsResult``, as a node leaves it."""
        self.check("FlowState", flow, "the FlowState a node pins")
        ipfs = cid_v0(json.dumps(definition, sort_keys=True).encode())
        self.pinned[ipfs] = definition
        market = self.markets[0]
        address = self.new_job(market, ipfs, 3600, NODE)
        result = cid_v0(json.dumps(flow, sort_keys=True).encode())
        self.pinned[result] = flow
        now = int(time.time())
        self.jobs[address].update(state=2, timeStart=now - 60, timeEnd=now, ipfsResult=result)
        return address

    def complete_job(self, address: str) -> None:
        job = self.jobs[address]
        job.update(state=2, timeEnd=int(time.time()), ipfsResult=cid_v0(address.encode()))
        job["jobResult"] = {"status": "success"}

    # --- checks

    def check(self, name: str, data: Any, what: str) -> None:
        try:
            jsonschema.validate(data, self.schemas[name])
        except jsonschema.ValidationError as err:
            if self.newer:
                self.newer_seen.append(f"{what} vs {name}: {err.message}")
                return
            self.violations.append(f"{what} vs {name}: {err.message} at {list(err.path)}")
            raise

    def market(self, key: str) -> dict[str, Any] | None:
        return next((m for m in self.markets if key in (m["address"], m["slug"])), None)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def default_markets() -> list[dict[str, Any]]:
    def market(slug: str, gpu: str, usd: float, nos: float) -> dict[str, Any]:
        return {
            "address": (slug.upper().replace("-", "") + "M" * 44)[:44],
            "slug": slug,
            "name": slug.replace("-", " ").title(),
            "sft": "S" * 44,
            "type": "PREMIUM",
            "usd_reward_per_hour": usd,
            "nos_reward_per_second": nos * 0.9,
            "nos_job_price_per_second": nos,
            "network_fee_percentage": 10,
            "premium_community_relation": None,
            "gpu_types": [gpu],
            "required_images": [],
            "required_remote_resources": [],
            "client": True,
            "lowest_vram": 24,
        }

    return [
        market("nvidia-3090", "NVIDIA GeForce RTX 3090", 0.2, 0.0001),
        market("nvidia-h100", "NVIDIA H100 80GB HBM3", 2.0, 0.001),
    ]


def build_app(state: Standin) -> FastAPI:
    app = FastAPI()

    def answer(name: str, data: Any, what: str, status: int = 200) -> Response:
        try:
            state.check(name, data, f"answer of {what}")
        except jsonschema.ValidationError:
            return JSONResponse({"message": "stand-in answer broke the schema"}, 500)
        return JSONResponse(data, status)

    def error(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
        return JSONResponse(body, status, headers=headers)

    def key_of(request: Request) -> Key | Response:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        if not header.startswith("Bearer ") or token not in state.keys:
            return error(401, {"message": "Unauthorized"})
        return state.keys[token]

    def need(request: Request, scope: str) -> Key | Response:
        key = key_of(request)
        if isinstance(key, Key) and scope not in key.scopes:
            return error(
                403,
                {
                    "message": f"Insufficient scope. This endpoint requires: {scope}.",
                    "code": "INSUFFICIENT_SCOPE",
                },
                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return key

    async def body_of(request: Request, name: str) -> Any:
        data = await request.json() if await request.body() else None
        state.check(name, data, f"body of {request.method} {request.url.path}")
        return data

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        state.requests.append((request.method, request.url.path))
        if state.slow_path and request.url.path.endswith(state.slow_path):
            import asyncio

            await asyncio.sleep(state.slow_seconds)
        if state.fail_next and request.url.path.endswith(state.fail_path):
            return error(state.fail_next.pop(0), {"message": "stand-in was told to fail"})
        try:
            response: Response = await call_next(request)
        except jsonschema.ValidationError as err:
            return JSONResponse({"message": f"request broke the schema: {err.message}"}, 400)
        return response

    for prefix in ("", "/api"):  # the gateway answers with and without /api (§1.1)

        @app.get(f"{prefix}/markets/")
        async def markets() -> Response:
            return answer("MarketsResponse", state.markets, "GET /markets/")

        @app.get(prefix + "/markets/{market_id}/")
        async def market(market_id: str) -> Response:
            found = state.market(market_id)
            if found is None:
                return error(404, {"message": "Market not found"})
            return answer("MarketResponse", found, "GET /markets/{id}/")

        @app.get(f"{prefix}/credits/balance")
        async def credits(request: Request) -> Response:
            key = need(request, "credits:read")
            if not isinstance(key, Key):
                return key
            body = {"assignedCredits": key.credits, "reservedCredits": 0, "settledCredits": 0}
            return answer("CreditsResponse", body, "GET /credits/balance")

        @app.post(f"{prefix}/jobs/list")
        async def jobs_list(request: Request) -> Response:
            key = need(request, "jobs:write")
            if not isinstance(key, Key):
                return key
            body = await body_of(request, "JobsListRequest")
            idem = request.headers.get("idempotency-key")
            if idem and idem in state.idempotency:
                seen, result = state.idempotency[idem]
                if seen != json.dumps(body, sort_keys=True):
                    return error(
                        409,
                        {
                            "code": "IDEMPOTENCY_KEY_PAYLOAD_MISMATCH",
                            "message": "Idempotency key reused with a different payload",
                        },
                    )
                return answer("JobsListResponse", result, "POST /jobs/list (replay)")
            market = state.market(body["market"])
            if market is None:
                return error(400, {"message": f"Market {body['market']} not found"})
            if body["ipfsHash"] not in state.pinned:
                return error(400, {"message": "ipfsHash is not pinned"})
            timeout = int(body.get("timeout", 3600))
            if timeout < 3600:
                return error(
                    400,
                    {"message": "Credit-paid jobs must have a timeout of at least 3600 seconds"},
                )
            cost = float(market["usd_reward_per_hour"]) * 1.1 * timeout / 3600
            if cost > key.credits:
                return error(402, {"message": "Insufficient credits"})
            key.credits -= cost
            address = state.new_job(market, body["ipfsHash"], timeout, body.get("node") or "")
            result = {
                "tx": "tx" + address[:40],
                "job": address,
                "run": "run" + address[:40],
                "credits": {
                    "costUSD": round(cost, 6),
                    "creditsUsed": round(cost, 6),
                    "reservationId": f"res-{len(state.jobs)}",
                    "project": PROJECT,
                },
            }
            state.listed.append(body)
            if state.assign_on_post:
                await state.assign(address)
            if idem:
                state.idempotency[idem] = (json.dumps(body, sort_keys=True), result)
            if state.lose_next_listing > 0:
                state.lose_next_listing -= 1
                return error(504, {"message": "Gateway Timeout"})
            return answer("JobsListResponse", result, "POST /jobs/list")

        @app.get(f"{prefix}/jobs/")
        async def my_jobs(request: Request) -> Response:
            if state.rate_limit_next > 0:
                state.rate_limit_next -= 1
                return error(
                    429,
                    {"error": "Rate limit exceeded", "message": "Too many requests"},
                    {"Retry-After": str(state.retry_after)},
                )
            for address in list(state.on_node):
                await state.follow_node(address)
            query = request.query_params
            limit = int(query.get("limit", 10))
            offset = int(query.get("offset", 0))
            if not 1 <= limit <= 50:
                return error(400, {"message": "limit must be 1-50"})
            names = ["QUEUED", "RUNNING", "COMPLETED", "STOPPED"]
            rows = [
                j
                for j in state.jobs.values()
                if j["project"] == query.get("poster", j["project"])
                and ("state" not in query or names[j["state"]] == query["state"])
            ]
            page = {"jobs": rows[offset : offset + limit], "totalJobs": len(rows)}
            return answer("JobPage", page, "GET /jobs/")

        @app.get(prefix + "/jobs/{address}")
        async def job(address: str) -> Response:
            await state.follow_node(address)
            found = state.jobs.get(address)
            if found is None:
                return error(404, {"message": "Job not found"})
            data = {k: v for k, v in found.items() if k != "address"}
            return answer("JobResponse", data, "GET /jobs/{address}")

        @app.post(prefix + "/jobs/{address}/stop")
        async def stop(address: str, request: Request) -> Response:
            key = need(request, "jobs:write")
            if not isinstance(key, Key):
                return key
            found = state.jobs.get(address)
            if found is None:
                return error(404, {"message": "Job not found"})
            if found["state"] >= 2:
                body = {
                    "tx": None,
                    "job": address,
                    "delisted": False,
                    "outcome": "already_terminal",
                }
                return answer("StopResponse", body, "POST /jobs/{address}/stop")
            queued = found["state"] == 0
            await state.stop_on_node(address)
            found.update(state=3, timeEnd=int(time.time()))
            body = {
                "tx": "stoptx" + address[:30],
                "job": address,
                "delisted": queued,
                "outcome": "delisted" if queued else "ended",
            }
            return answer("StopResponse", body, "POST /jobs/{address}/stop")

        @app.post(prefix + "/jobs/{address}/extend")
        async def extend(address: str, request: Request) -> Response:
            key = need(request, "jobs:write")
            if not isinstance(key, Key):
                return key
            body = await body_of(request, "ExtendRequest")
            found = state.jobs.get(address)
            if found is None:
                return error(404, {"message": "Job not found"})
            if found["state"] >= 2:
                return answer("ExtendResponse", {"tx": None, "job": address}, "POST extend")
            seconds = int(body.get("seconds") or 0)
            cost = float(found["usdRewardPerHour"]) * 1.1 * seconds / 3600
            if cost > key.credits:
                return error(402, {"message": "Insufficient credits"})
            key.credits -= cost
            found["timeout"] += seconds
            result = {
                "tx": "extendtx" + address[:30],
                "job": address,
                "credits": {
                    "costUSD": round(cost, 6),
                    "creditsUsed": round(cost, 6),
                    "reservationId": f"res-x-{address[:8]}",
                },
            }
            return answer("ExtendResponse", result, "POST extend")

        @app.post(f"{prefix}/auth/validate-api-key")
        async def validate_key(request: Request) -> Response:
            data = await request.json()
            key = state.keys.get(str(data.get("apiKey")))
            if key is None:
                return answer("ValidateKeyResponse", {"valid": False}, "validate-api-key")
            body = {
                "valid": True,
                "user": {"id": "user-1", "generatedAddress": PROJECT},
                "scopes": sorted(key.scopes),
            }
            return answer("ValidateKeyResponse", body, "validate-api-key")

        @app.post(f"{prefix}/auth/sign-message/external")
        async def sign_message(request: Request) -> Response:
            key = need(request, "wallet:sign")
            if not isinstance(key, Key):
                return key
            body = await body_of(request, "SignMessageRequest")
            header = sign(
                body["message"], PROJECT_SECRET, include_time=bool(body.get("includeTime"))
            )
            _, signature, *when = header.split(":")
            result: dict[str, Any] = {
                "message": body["message"],
                "userAddress": PROJECT,
                "signature": signature,
            }
            if when:
                result["timestamp"] = int(when[0])
            return answer("SignMessageResponse", result, "sign-message/external")

        # --- deployments (the Deployment Manager through the gateway, §1.3 Deployments)

        def deployment_answer(found: dict[str, Any], what: str) -> Response:
            data = state.public(found)
            try:  # the gateway's schema and the Deployment Manager's own
                state.check("DeploymentManagerDeployment", data, f"answer of {what}")
            except jsonschema.ValidationError:
                return JSONResponse({"error": "stand-in answer broke the schema"}, 500)
            return answer("DeploymentResponse", data, what)

        def owned(request: Request, scope: str, deployment_id: str) -> dict[str, Any] | Response:
            key = need(request, scope)
            if not isinstance(key, Key):
                return key
            found = state.deployments.get(deployment_id)
            if found is None:
                return error(404, {"error": "Deployment not found"})
            return found

        @app.get(f"{prefix}/deployments")
        async def deployments(request: Request) -> Response:
            key = need(request, "deployments:read")
            if not isinstance(key, Key):
                return key
            limit = int(request.query_params.get("limit", 10))
            if limit not in (10, 20, 50, 100):
                return error(400, {"error": "limit must be 10, 20, 50 or 100"})
            cursor = request.query_params.get("cursor")
            start = int(base64.b64decode(cursor).decode()) if cursor else 0
            order = request.query_params.get("sort_order", "asc")  # (our guess at its default)
            if order not in ("asc", "desc"):
                return error(400, {"error": "sort_order must be asc or desc"})
            rows = list(state.deployments.values())  # in the order they were made
            if order == "desc":
                rows.reverse()
            page = [state.public(d) for d in rows[start : start + limit]]
            after = start + limit
            body = {
                "deployments": page,
                "pagination": {
                    "cursor_next": base64.b64encode(str(after).encode()).decode()
                    if after < len(rows)
                    else None,
                    "cursor_prev": base64.b64encode(str(max(0, start - limit)).encode()).decode()
                    if start
                    else None,
                    "total_items": len(rows),
                },
            }
            return answer("DeploymentsResponse", body, "GET /deployments")

        @app.post(f"{prefix}/deployments/create")
        async def create_deployment(request: Request) -> Response:
            key = need(request, "deployments:write")
            if not isinstance(key, Key):
                return key
            body = await body_of(request, "DeploymentCreateRequest")
            market = state.market(body["market"])
            if market is None:
                return error(400, {"error": f"Market {body['market']} not found"})
            if body["timeout"] < 60:
                return error(400, {"error": "timeout must be at least 60 minutes"})
            cost = float(market["usd_reward_per_hour"]) * 1.1 * body["timeout"] / 60
            if cost * body["replicas"] > key.credits:
                return error(402, {"error": "Insufficient credits"})
            definition = {**body["job_definition"], "deployment_id": ""}
            deployment_id = cid_v0(f"deployment{len(state.deployments)}".encode())[2:46]
            definition["deployment_id"] = deployment_id
            definition.setdefault("meta", {})["trigger"] = "deployment-manager"
            ipfs = cid_v0(json.dumps(definition, sort_keys=True).encode())
            state.pinned[ipfs] = definition  # the Deployment Manager pins it itself
            found: dict[str, Any] = {
                "id": deployment_id,
                "name": body["name"],
                "vault": PROJECT,
                "market": market["address"],
                "owner": PROJECT,
                "status": "STARTING",
                "replicas": body["replicas"],
                "timeout": body["timeout"],
                "endpoints": [],
                "confidential": bool(body.get("confidential", False)),
                "active_revision": 1,
                "active_jobs": 0,
                "created_at": _now(),
                "updated_at": _now(),
                "strategy": body["strategy"],
                "jobs": [],
                "ipfs": ipfs,
            }
            if body["strategy"] == "SCHEDULED":
                found["schedule"] = body["schedule"]
            if body["strategy"] == "INFINITE":
                found["rotation_time"] = body.get("rotation_time", body["timeout"] * 60 - 600)
            for op in definition.get("ops", []):
                expose = op.get("args", {}).get("expose")
                if isinstance(expose, int):
                    found["endpoints"].append(
                        {
                            "opId": op["id"],
                            "port": expose,
                            "url": f"https://{deployment_id[:8].lower()}.node.example",
                        }
                    )
            state.deployments[deployment_id] = found
            state._deployment_frame(found)
            await state.list_replicas(found, found["replicas"])
            data = state.public(found)
            found["status"] = "STARTING"  # the create answer says STARTING, reads say RUNNING
            data["status"] = "STARTING"
            state.check("DeploymentManagerDeployment", data, "answer of POST /deployments/create")
            return answer("DeploymentCreateResponse", data, "POST /deployments/create")

        @app.get(prefix + "/deployments/{deployment_id}")
        async def get_deployment(deployment_id: str, request: Request) -> Response:
            found = owned(request, "deployments:read", deployment_id)
            if not isinstance(found, dict):
                return found
            return deployment_answer(found, "GET /deployments/{id}")

        @app.delete(prefix + "/deployments/{deployment_id}")
        async def delete_deployment(deployment_id: str, request: Request) -> Response:
            found = owned(request, "deployments:write", deployment_id)
            if not isinstance(found, dict):
                return found
            if state.public(found)["status"] != "STOPPED":  # reference §1.3: must be STOPPED
                return error(400, {"error": "Deployment must be stopped before it is deleted"})
            del state.deployments[deployment_id]
            return Response(status_code=204)

        @app.post(prefix + "/deployments/{deployment_id}/{verb}")
        async def change_deployment(deployment_id: str, verb: str, request: Request) -> Response:
            found = owned(request, "deployments:write", deployment_id)
            if not isinstance(found, dict):
                return found
            current = state.public(found)["status"]
            if verb == "start":
                if current not in ("STOPPED", "DRAFT", "ERROR", "INSUFFICIENT_FUNDS"):
                    return error(400, {"error": f"Deployment is {current}"})
                found.update(status="STARTING", updated_at=_now())
                state._deployment_frame(found)
                await state.list_replicas(found, found["replicas"])
                name = "DeploymentStartResponse"
            elif verb == "stop":
                if current not in ("RUNNING", "STARTING"):
                    return error(400, {"error": f"Deployment is {current}"})
                for row in found["jobs"]:
                    job = state.jobs[row["job"]]
                    if job["state"] < 2:
                        await state.stop_on_node(row["job"])
                        job.update(state=3, timeEnd=int(time.time()))
                        row["state"] = "STOPPED"
                        state.frame(
                            deployment_id,
                            {
                                "type": "job",
                                "job": row["job"],
                                "state": "STOPPED",
                                "node": job["node"],
                                "timeStart": job["timeStart"],
                                "timeEnd": job["timeEnd"],
                            },
                        )
                found.update(status="STOPPING", updated_at=_now())
                state._deployment_frame(found)
                name = "DeploymentStopResponse"
            elif verb == "archive":
                if current != "STOPPED":
                    return error(400, {"error": "Deployment must be stopped before archiving"})
                found.update(status="ARCHIVED", updated_at=_now())
                name = "DeploymentArchiveResponse"
            else:
                return error(404, {"error": "Not found"})
            body = {"status": found["status"], "updated_at": found["updated_at"]}
            return answer(name, body, f"POST /deployments/{{id}}/{verb}")

        @app.patch(prefix + "/deployments/{deployment_id}/update-replica-count")
        async def scale_deployment(deployment_id: str, request: Request) -> Response:
            found = owned(request, "deployments:write", deployment_id)
            if not isinstance(found, dict):
                return found
            body = await body_of(request, "DeploymentReplicasRequest")
            if body["replicas"] < 1:
                return error(400, {"error": "replicas must be at least 1"})
            more = body["replicas"] - found["replicas"]
            found.update(replicas=body["replicas"], updated_at=_now())
            state._deployment_frame(found)
            if more > 0 and state.public(found)["status"] == "RUNNING":
                await state.list_replicas(found, more)
            result = {"replicas": found["replicas"], "updated_at": found["updated_at"]}
            return answer("DeploymentReplicasResponse", result, "PATCH update-replica-count")

        @app.get(prefix + "/deployments/{deployment_id}/jobs")
        async def deployment_jobs(deployment_id: str, request: Request) -> Response:
            found = owned(request, "deployments:read", deployment_id)
            if not isinstance(found, dict):
                return found
            for row in found["jobs"]:
                row["state"] = ["QUEUED", "RUNNING", "COMPLETED", "STOPPED"][
                    state.jobs[row["job"]]["state"]
                ]
                row["time_start"] = state.jobs[row["job"]]["timeStart"]
            body = {
                "jobs": found["jobs"],
                "pagination": {
                    "cursor_next": None,
                    "cursor_prev": None,
                    "total_items": len(found["jobs"]),
                },
            }
            return answer("DeploymentJobsResponse", body, "GET /deployments/{id}/jobs")

        @app.get(prefix + "/deployments/{deployment_id}/stream")
        async def deployment_stream(deployment_id: str, request: Request) -> Response:
            found = owned(request, "deployments:read", deployment_id)
            if not isinstance(found, dict):
                return found
            state.streams_opened += 1
            drop, state.drop_stream_after = state.drop_stream_after, 0

            async def frames() -> Any:
                import asyncio

                sent = 0
                yield ": keep-alive\n\n"
                while True:
                    queue = state.frames.get(deployment_id, [])
                    while sent < len(queue):
                        yield f"data: {json.dumps(queue[sent])}\n\n"
                        sent += 1
                        if drop and sent >= drop:
                            return  # the connection drops; the client comes back
                    if await request.is_disconnected():
                        return
                    await asyncio.sleep(0.05)

            return StreamingResponse(frames(), media_type="text/event-stream")

    @app.post("/pinning/pinJSONToIPFS")
    async def pin(request: Request) -> Response:
        raw = await request.body()
        data = json.loads(raw)
        cid = cid_v0(json.dumps(data, sort_keys=True).encode())
        state.pinned[cid] = data
        return JSONResponse({"IpfsHash": cid, "PinSize": len(raw), "Timestamp": "now"})

    @app.get("/ipfs/{cid}")
    async def ipfs(cid: str) -> Response:
        if cid not in state.pinned:
            return error(404, {"message": "not pinned"})
        return JSONResponse(state.pinned[cid])

    return app


def build_tunnel(state: Standin) -> FastAPI:
    """The nodes' tunnel (frp at ``https://<node>.<node_domain>``, reference §4.1), in front of
    our agent: a Nosana node knows a job by its address, our agent by the id it gave it, so the
    tunnel puts the one for the other in paths and websocket handshakes, and back in answers.
    Headers (the poster's signature) pass untouched: the agent checks them."""
    app = FastAPI()

    def inward(text: str) -> str:
        for address, job_id in state.on_node.items():
            text = text.replace(address, job_id)
        return text

    def outward(text: str) -> str:
        for address, job_id in state.on_node.items():
            text = text.replace(job_id, address)
        return text

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
    async def forward(path: str, request: Request) -> Response:
        http = httpx.AsyncClient(base_url=state.agent_url, trust_env=False, timeout=None)
        keep = ("authorization", "content-type", "x-nosana-poster", "accept")
        upstream = await http.send(
            http.build_request(
                request.method,
                inward("/" + path),
                params=request.query_params,
                headers={k: v for k, v in request.headers.items() if k in keep},
                content=await request.body(),
            ),
            stream=True,
        )

        async def body() -> Any:
            try:
                async for line in upstream.aiter_lines():
                    yield outward(line) + "\n"
            finally:
                await upstream.aclose()
                await http.aclose()

        media = upstream.headers.get("content-type")
        return StreamingResponse(body(), upstream.status_code, media_type=media)

    @app.websocket("/")
    @app.websocket("/{path:path}")
    async def socket_(websocket: WebSocket, path: str = "") -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        await websocket.accept()
        try:
            handshake = await websocket.receive_text()
        except WebSocketDisconnect:
            return
        uri = "ws" + state.agent_url.removeprefix("http") + "/" + path
        async with connect(uri, proxy=None) as agent:
            await agent.send(inward(handshake))
            try:
                async for message in agent:
                    text = message if isinstance(message, str) else message.decode()
                    await websocket.send_text(outward(text))
            except ConnectionClosed:
                pass
            except (WebSocketDisconnect, RuntimeError):
                return
            code, reason = agent.close_code or 1000, agent.close_reason or ""
        await websocket.close(code if code != 1006 else 1011, reason)

    return app


class Server:
    """uvicorn serving the stand-in (or APP) on a free loopback port, in a thread."""

    def __init__(self, state: Standin, app: FastAPI | None = None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            app or build_app(state), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"
        if app is None:
            state.url = self.url

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the stand-in gateway did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
