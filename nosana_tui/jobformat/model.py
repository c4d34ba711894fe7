"""The Nosana job definition (``@nosana/types`` 2.2.x), as pydantic v2 models.

Strict like the network's typia validator: unknown keys are errors everywhere but under ``meta``,
and values are not coerced (``"true"`` is not a boolean, ``"80"`` is not a port). Literals such as
``%%ops.x.host%%`` are kept as text; the engine resolves them when an op starts.

Unions are tagged (by ``type``, or by the Python type of the value) so that a mistake produces one
precise error instead of one per union member. The tagged unions are built at run time; type
checkers see the plain union they stand for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nosana_tui.jobformat.literals import EXACT_LITERAL_PATTERN as LITERAL_PATTERN

REMOVE_IF_EMPTY = "__remove-if-empty__"

OP_RUN = "container/run"
OP_CREATE_VOLUME = "container/create-volume"


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError("null_value", "null is not allowed here")
    return value


T = TypeVar("T")
# An optional field: leave it out, or give a value. The network's typia validator types these as
# ``field?: T``, which admits a missing key but not ``null``; ``None`` is only our "left out".
Opt: TypeAlias = Annotated[T | None, BeforeValidator(_not_null)]


class Strict(BaseModel):
    """Base of every schema object: no unknown keys, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _kind(value: Any) -> str | None:
    """Tag of a value by its JSON type, for unions of differently typed forms.

    Serialising (``model_dump``) passes the validated objects, not dicts: tag those too, or
    pydantic warns and falls back to trying each member.
    """
    if isinstance(value, SpreadMarker):
        return "spread"
    if isinstance(value, BaseModel):
        return "object"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "spread" if "__spread__" in value else "object"
    return None


def _tagged(*members: tuple[Any, str], name: str, expected: str) -> Any:
    """A union of ``members`` (type, tag) chosen by :func:`_kind`, with one clear error."""
    choices = tuple(Annotated[t, Tag(tag)] for t, tag in members)
    return Annotated[
        Union[choices],  # noqa: UP007 - built from a runtime tuple
        Discriminator(
            _kind,
            custom_error_type="wrong_form",
            custom_error_message=f"{name} must be {expected}",
        ),
    ]


PortNumber = Annotated[int, Field(ge=1, le=65535)]
LiteralString = Annotated[str, StringConstraints(pattern=LITERAL_PATTERN)]
CommandArg = str  # may be REMOVE_IF_EMPTY; kept as text
if TYPE_CHECKING:
    Command: TypeAlias = str | list[str]
else:
    Command = _tagged(
        (str, "string"),
        (list[CommandArg], "array"),
        name="a command",
        expected="a string (run under /bin/sh -c) or an array of strings",
    )
if TYPE_CHECKING:
    StringOrList: TypeAlias = str | list[str]
else:
    StringOrList = _tagged(
        (str, "string"), (list[str], "array"), name="this field", expected="a string or an array"
    )


class SpreadMarker(Strict):
    """``{"__spread__": "%%...%%", "chunked"?: bool}``: splice a literal's array or object."""

    spread: LiteralString = Field(alias="__spread__")
    chunked: Opt[bool] = None


# --- expose and health checks ----------------------------------------------------------------


class HttpHealthCheck(Strict):
    type: Literal["http"]
    path: str
    method: Literal["GET", "POST", "PUT", "DELETE"]
    expected_status: Annotated[int, Field(ge=100, le=599)]
    headers: Opt[dict[str, str]] = None
    body: Any = None
    continuous: bool


class WebSocketHealthCheck(Strict):
    type: Literal["websocket"]
    expected_response: str
    continuous: bool


HealthCheck = Annotated[
    HttpHealthCheck | WebSocketHealthCheck,
    Field(discriminator="type"),
]


class ExposedPort(Strict):
    port: PortNumber
    type: Opt[Literal["web", "api", "webapi", "websocket", "none"]] = None
    health_checks: Opt[list[HealthCheck]] = None


if TYPE_CHECKING:
    ExposeEntry: TypeAlias = int | ExposedPort | str | SpreadMarker
else:
    ExposeEntry = _tagged(
        (PortNumber, "number"),
        (ExposedPort, "object"),
        (LiteralString, "string"),
        (SpreadMarker, "spread"),
        name="an expose entry",
        expected="a port number, an object {port, type?, health_checks?}, or a %%literal%%",
    )
if TYPE_CHECKING:
    Expose: TypeAlias = (
        int | ExposedPort | str | SpreadMarker | list[int | ExposedPort | str | SpreadMarker]
    )
else:
    Expose = _tagged(
        (PortNumber, "number"),
        (ExposedPort, "object"),
        (LiteralString, "string"),
        (SpreadMarker, "spread"),
        (list[ExposeEntry], "array"),
        name="expose",
        expected="a port number, an object {port, ...}, a %%literal%%, or an array of those",
    )


# --- other container/run args ----------------------------------------------------------------


class VolumeMount(Strict):
    name: str
    dest: str


class RestartPolicyOnFailure(Strict):
    policy: Literal["on-failure"]
    restart_tries: Opt[Annotated[int, Field(ge=0)]] = None


if TYPE_CHECKING:
    RestartPolicy: TypeAlias = str | RestartPolicyOnFailure
else:
    RestartPolicy = _tagged(
        (Literal["no", "always", "unless-stopped", "on-failure"], "string"),
        (RestartPolicyOnFailure, "object"),
        name="restart_policy",
        expected='"no", "always", "unless-stopped", "on-failure", '
        'or {"policy": "on-failure", "restart_tries": N}',
    )


class S3Bucket(Strict):
    url: str
    files: Opt[list[str]] = None


class S3Credentials(Strict):
    REGION: str
    ACCESS_KEY_ID: str
    SECRET_ACCESS_KEY: str


class S3Resource(Strict):
    type: Literal["S3"]
    target: str
    url: Opt[str] = None
    files: Opt[list[str]] = None
    bucket: Opt[str] = None
    buckets: Opt[list[S3Bucket]] = None
    allowWrite: Opt[bool] = None
    IAM: Opt[S3Credentials] = None

    @model_validator(mode="after")
    def _one_source(self) -> S3Resource:
        given = [k for k in ("url", "bucket", "buckets") if getattr(self, k) is not None]
        if "bucket" in given and "buckets" in given:
            raise ValueError("give either bucket or buckets, not both")
        if self.files is not None and self.buckets is not None:
            raise ValueError("files goes inside each entry of buckets, not beside it")
        if not given:
            raise ValueError("an S3 resource needs url, bucket or buckets")
        return self


class HFResource(Strict):
    type: Literal["HF"]
    repo: str
    target: str
    revision: Opt[str] = None
    files: Opt[list[str]] = None
    accessToken: Opt[str] = None


class OllamaResource(Strict):
    type: Literal["Ollama"]
    model: str
    target: Opt[str] = None


def _resource_kind(value: Any) -> str | None:
    if isinstance(value, SpreadMarker):
        return "spread"
    if isinstance(value, BaseModel):  # when serialising
        return getattr(value, "type", None)
    if isinstance(value, str):
        return "remove" if value == REMOVE_IF_EMPTY else None
    if isinstance(value, dict):
        if "__spread__" in value:
            return "spread"
        kind = value.get("type")
        return kind if kind in ("S3", "HF", "Ollama") else None
    return None


Resource = Annotated[
    Annotated[S3Resource, Tag("S3")]
    | Annotated[HFResource, Tag("HF")]
    | Annotated[OllamaResource, Tag("Ollama")]
    | Annotated[SpreadMarker, Tag("spread")]
    | Annotated[Literal["__remove-if-empty__"], Tag("remove")],
    Discriminator(
        _resource_kind,
        custom_error_type="wrong_form",
        custom_error_message='a resource must be an object with type "S3", "HF" or "Ollama"',
    ),
]


class DockerAuth(Strict):
    username: Opt[str] = None
    password: Opt[str] = None
    email: Opt[str] = None
    server: Opt[str] = None


class Authentication(Strict):
    docker: Opt[DockerAuth] = None


class ContainerRunArgs(Strict):
    image: str
    cmd: Opt[Command] = None
    entrypoint: Opt[Command] = None
    env: Opt[dict[str, str]] = None
    work_dir: Opt[str] = None
    gpu: Opt[bool] = None
    volumes: Opt[list[VolumeMount]] = None
    expose: Opt[Expose] = None
    private: Opt[bool] = None
    restart_policy: Opt[RestartPolicy] = None
    aliases: Opt[StringOrList] = None
    resources: Opt[list[Resource]] = None
    authentication: Opt[Authentication] = None


class CreateVolumeArgs(Strict):
    name: str


# --- operations --------------------------------------------------------------------------------


class Execution(Strict):
    group: Opt[str] = None
    depends_on: Opt[list[str]] = None
    stop_if_dependent_stops: Opt[bool] = None
    timeout: Opt[Annotated[int | float, Field(gt=0)]] = None

    @model_validator(mode="after")
    def _serves_someone(self) -> Execution:
        # @nosana/types 2.1.x types the flag as allowed only beside depends_on.
        if self.stop_if_dependent_stops is not None and self.depends_on is None:
            raise PydanticCustomError(
                "serves_nobody",
                "stop_if_dependent_stops is only allowed together with depends_on",
            )
        return self


LogType = Literal["stdin", "stdout", "stderr", "nodeerr"]


class ResultSpec(Strict):
    regex: str
    logType: Annotated[list[LogType], Field(min_length=1, max_length=4)]

    @model_validator(mode="after")
    def _unique(self) -> ResultSpec:
        if len(set(self.logType)) != len(self.logType):
            raise ValueError("logType values must be unique")
        return self


if TYPE_CHECKING:
    ResultValue: TypeAlias = str | ResultSpec
else:
    ResultValue = _tagged(
        (str, "string"),
        (ResultSpec, "object"),
        name="a result",
        expected='a regex string or {"regex": ..., "logType": [...]}',
    )


class _OperationBase(Strict):
    id: str
    results: Opt[dict[str, ResultValue]] = None
    execution: Opt[Execution] = None

    @property
    def group(self) -> str:
        """The stage this op runs in: its ``execution.group``, else its own id."""
        if self.execution is not None and self.execution.group is not None:
            return self.execution.group
        return self.id

    @property
    def depends_on(self) -> list[str]:
        if self.execution is None or self.execution.depends_on is None:
            return []
        return list(self.execution.depends_on)


class RunOperation(_OperationBase):
    type: Literal["container/run"]
    args: ContainerRunArgs


class CreateVolumeOperation(_OperationBase):
    type: Literal["container/create-volume"]
    args: CreateVolumeArgs


def _op_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):  # when serialising
        return getattr(value, "type", None)
    if isinstance(value, dict):
        kind = value.get("type")
        return kind if kind in (OP_RUN, OP_CREATE_VOLUME) else None
    return None


Operation = Annotated[
    Annotated[RunOperation, Tag(OP_RUN)] | Annotated[CreateVolumeOperation, Tag(OP_CREATE_VOLUME)],
    Discriminator(
        _op_kind,
        custom_error_type="op_type",
        custom_error_message='operation type must be "container/run" or "container/create-volume"',
    ),
]


# --- top level ---------------------------------------------------------------------------------


class Global(Strict):
    image: Opt[str] = None
    gpu: Opt[bool] = None
    entrypoint: Opt[Command] = None
    env: Opt[dict[str, str]] = None
    work_dir: Opt[str] = None
    variables: Opt[dict[str, str]] = None


# meta: the one object that takes keys of its own. The network's validator also limits their values
# (strings, numbers, arrays of those, objects of those; ``Meta`` in @nosana/types); validate.py
# checks that shape as a warning for now, as the dstack converter writes deeper objects there.
MetaValue = Annotated[Any, BeforeValidator(_not_null)]


def is_meta_scalar(value: Any) -> bool:
    """A string or a number (not a boolean): the leaves the network allows in meta."""
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _meta_rules(meta: dict[str, Any]) -> dict[str, Any]:
    """The two keys of meta with a type of their own."""
    if "trigger" in meta and not isinstance(meta["trigger"], str):
        raise PydanticCustomError(
            "meta_key", 'meta.trigger must be a string, such as "cli"', {"key": "trigger"}
        )
    resources = meta.get("system_resources", {})
    if not isinstance(resources, dict) or not all(map(is_meta_scalar, resources.values())):
        raise PydanticCustomError(
            "meta_key",
            "meta.system_resources must be an object of strings and numbers",
            {"key": "system_resources"},
        )
    return meta


Meta = Annotated[dict[str, MetaValue], AfterValidator(_meta_rules)]
"""meta: keys of your own; values may not be null, ``trigger`` is a string."""


class LogisticArgs(Strict):
    endpoint: Opt[str] = None


class Logistic(Strict):
    type: Literal["api", "api-listen"]
    args: LogisticArgs  # required by the network, even when empty: {}


class Logistics(Strict):
    send: Logistic
    receive: Logistic


class Ssh(Strict):
    public_keys: Opt[list[str]] = None


class JobDefinition(Strict):
    """A whole Nosana job definition."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        populate_by_name=True,
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Nosana job definition",
            "description": "A Nosana container job (version 0.1), as nosana-tui validates it.",
        },
    )

    version: Literal["0.1"]
    type: Literal["container"]
    ops: list[Operation]
    meta: Opt[Meta] = None
    global_: Opt[Global] = Field(default=None, alias="global")
    logistics: Opt[Logistics] = None
    deployment_id: Opt[str] = None
    ssh: Opt[Ssh] = None

    def op(self, op_id: str) -> RunOperation | CreateVolumeOperation:
        for op in self.ops:
            if op.id == op_id:
                return op
        raise KeyError(op_id)


def _without_null(node: Any) -> Any:
    """The schema with ``null`` taken out of every ``anyOf``: pydantic writes ``X | None`` for an
    optional field (``Opt``), but null is refused; an optional field is one left out."""
    if isinstance(node, list):
        return [_without_null(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _without_null(v) for k, v in node.items()}
    choices = out.get("anyOf")
    if isinstance(choices, list) and {"type": "null"} in choices:
        kept = [c for c in choices if c != {"type": "null"}]
        del out["anyOf"]
        if len(kept) == 1 and isinstance(kept[0], dict):
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
        if out.get("default", 0) is None:
            del out["default"]
    return out


def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job definition (by alias: ``global``, ``__spread__``)."""
    schema: dict[str, Any] = _without_null(JobDefinition.model_json_schema(by_alias=True))
    return schema
