"""``jobformat.secrets.redact``: a ``global.variables`` value is a secret when a secret value
names it with a literal, whatever the variable is called (reviewer's finding: ``HUB`` came back
unmasked from ``/job-definition``, the op panel and "save as template")."""

from __future__ import annotations

from typing import Any

from nosana_tui.jobformat.secrets import MASK, has_secrets, redact, referenced_by_secrets

HUB = "abc123secretvalue"  # no token shape: only the reference makes it a secret


def definition(args: dict[str, Any], **variables: str) -> dict[str, Any]:
    return {
        "version": "0.1",
        "type": "container",
        "ops": [{"type": "container/run", "id": "run", "args": {"image": "busybox", **args}}],
        "global": {"variables": {"HUB": HUB, "NAME": "model-7", **variables}},
    }


def test_a_variable_named_by_a_secret_env_value_is_masked() -> None:
    data = definition(
        {"env": {"HF_TOKEN": "%%global.variables.HUB%%", "WHO": "%%global.variables.NAME%%"}}
    )
    shown = redact(data)
    assert shown["global"]["variables"] == {"HUB": MASK, "NAME": "model-7"}
    assert shown["ops"][0]["args"]["env"] == {"HF_TOKEN": MASK, "WHO": "%%global.variables.NAME%%"}
    assert HUB not in repr(shown) and has_secrets(data)
    assert data["global"]["variables"]["HUB"] == HUB  # a copy: the job itself keeps its value


def test_a_reference_within_text_and_the_globals_spelling() -> None:
    data = definition({"env": {"AUTH_TOKEN": "Bearer %%globals.variables.HUB%%"}})
    assert redact(data)["global"]["variables"]["HUB"] == MASK


def test_registry_password_resource_credentials_and_global_env_name_variables_too() -> None:
    data = definition(
        {
            "authentication": {
                "docker": {
                    "username": "%%global.variables.NAME%%",
                    "password": "%%global.variables.A%%",
                }
            },
            "resources": [
                {
                    "type": "S3",
                    "url": "s3://bucket/m",
                    "target": "/m",
                    "IAM": {
                        "REGION": "eu",
                        "ACCESS_KEY_ID": "%%global.variables.B%%",
                        "SECRET_ACCESS_KEY": "%%global.variables.C%%",
                    },
                },
                {
                    "type": "HF",
                    "repo": "o/m",
                    "target": "/hf",
                    "accessToken": "%%global.variables.D%%",
                },
            ],
        },
        A="a-value",
        B="b-value",
        C="c-value",
        D="d-value",
        E="e-value",
    )
    data["global"]["env"] = {"DB_PASSWORD": "x%%global.variables.E%%"}
    assert referenced_by_secrets(data) == {"A", "B", "C", "D", "E"}
    assert redact(data)["global"]["variables"] == {
        "HUB": HUB,  # named by no secret here
        "NAME": "model-7",  # a username is no secret
        "A": MASK,
        "B": MASK,
        "C": MASK,
        "D": MASK,
        "E": MASK,
    }


def test_other_literals_and_plain_env_names_hide_nothing() -> None:
    data = definition(
        {
            "env": {
                "HF_TOKEN": "%%ops.other.results.token%% %%global.job%% %%not.a.literal%% 100%%%%",
                "MODEL": "%%global.variables.HUB%%",
            }
        }
    )
    assert referenced_by_secrets(data) == set()
    assert redact(data)["global"]["variables"] == {"HUB": HUB, "NAME": "model-7"}
