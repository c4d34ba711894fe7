"""The node's ``/job/{job}/job-definition`` over HTTP from a real agent (issue 13): every secret
a job can hold is masked, and nothing else is. Registry passwords, S3 keys and Hugging Face
tokens by their field; env and ``global.variables`` values by a secret name (``HF_TOKEN``), by
a token's shape under any name (``hf_…``, ``sk-…``), a URL's password in place, and a variable
of any name that a secret value names (``HF_TOKEN: "%%global.variables.HUB%%"``). Its clients (the
op panel, which masks again, and Jobs' "save as template") read it to show and to copy a job: a
restart never reads it (the agent keeps the job as posted), so nobody needs the secrets."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nosana_tui.api.models import JobStatus
from nosana_tui.client.node import NodeClient
from nosana_tui.jobformat.secrets import MASK
from tests.node.conftest import AgentProcess, job, run_op, wait_for

pytestmark = pytest.mark.anyio

HF = "hf_" + "H" * 34
OPENAI = "sk-" + "O" * 40
SECRETS = {
    "registry": "registry-password-1",
    "s3_key": "AKIA" + "K" * 16,
    "s3_secret": "s3-secret-access-key-2",
    "hf": "hf-access-token-3",
    "env": "env-token-4",
    "variable": "variable-token-5",
    "shaped": HF,
    "shaped_variable": OPENAI,
    "url": "url-password-6",
    "referenced": "abc123secretvalue",  # in a variable of a harmless name, named by a secret
}


def secret_job() -> dict[str, Any]:
    first = run_op("first", "exit 1", "one")  # the job fails here: the second never starts
    second = run_op(
        "second",
        "echo never",
        "two",
        args={
            "env": {
                "API_TOKEN": SECRETS["env"],
                "MODEL_AUTH": SECRETS["shaped"],
                "DATABASE_URL": f"postgres://app:{SECRETS['url']}@db:5432/app",
                "HF_TOKEN": "%%global.variables.HF_TOKEN%%",
                "HUB_TOKEN": "%%global.variables.HUB%%",
                "PLAIN": "hello",
            },
            "authentication": {"docker": {"username": "me", "password": SECRETS["registry"]}},
            "resources": [
                {
                    "type": "S3",
                    "url": "s3://bucket/models",
                    "target": "/models",
                    "IAM": {
                        "REGION": "eu-west-1",
                        "ACCESS_KEY_ID": SECRETS["s3_key"],
                        "SECRET_ACCESS_KEY": SECRETS["s3_secret"],
                    },
                },
                {
                    "type": "HF",
                    "repo": "org/model",
                    "target": "/hf",
                    "accessToken": SECRETS["hf"],
                },
            ],
        },
    )
    return job(
        first,
        second,
        **{
            "global": {
                "variables": {
                    "HF_TOKEN": SECRETS["variable"],
                    "KEY": OPENAI,
                    "HUB": SECRETS["referenced"],
                    "N": "3",
                }
            }
        },
    )


async def test_job_definition_masks_every_secret(agent: AgentProcess, client: NodeClient) -> None:
    view = await client.submit(secret_job(), name="secrets")
    try:
        await wait_for(client, view.id, lambda v: v.status is JobStatus.FAILED, timeout=60)
        headers = {"Authorization": f"Bearer {agent.token}"}
        async with httpx.AsyncClient(base_url=agent.url, headers=headers, timeout=10) as http:
            answer = await http.get(f"/job/{view.id}/job-definition")
        assert answer.status_code == 200, answer.text
        for name, secret in SECRETS.items():
            assert secret not in answer.text, (name, answer.text)
        served = answer.json()
        second = served["ops"][1]["args"]
        assert second["authentication"]["docker"] == {"username": "me", "password": MASK}
        s3, hf = second["resources"]
        assert s3["IAM"] == {
            "REGION": "eu-west-1",
            "ACCESS_KEY_ID": MASK,
            "SECRET_ACCESS_KEY": MASK,
        }
        assert hf["accessToken"] == MASK and hf["repo"] == "org/model"
        assert second["env"] == {
            "API_TOKEN": MASK,
            "MODEL_AUTH": MASK,
            "DATABASE_URL": f"postgres://app:{MASK}@db:5432/app",
            "HF_TOKEN": MASK,
            "HUB_TOKEN": MASK,
            "PLAIN": "hello",
        }
        assert served["global"]["variables"] == {
            "HF_TOKEN": MASK,
            "KEY": MASK,
            "HUB": MASK,
            "N": "3",
        }
        # the rest as posted; the client reads the same
        assert served["ops"][0]["args"]["cmd"] == "exit 1"
        assert json.dumps(await client.definition(view.id)) == json.dumps(served)
    finally:
        await client.remove(view.id)
