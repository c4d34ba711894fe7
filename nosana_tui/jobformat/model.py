"""The Nosana job definition (``@nosana/types`` 2.2.x), as pydantic v2 models.

Strict like the network's typia validator: unknown keys are errors everywhere but under ``meta``,
and values are not coerced (``"true"`` is not a boolean, ``"80"`` is not a port). Literals such as
``%%ops.x.host%%`` are kept as text; the engine resolves them when an op starts.

Unions are tagged (by ``type``, or by the Python type of the value) so that a mistake produces one
precise error instead of one per union member. The tagged unions are built at run time; type
checkers see the plain union they stand for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

REMOVE_IF_EMPTY = "__remove-if-empty__"
LITERAL_PATTERN = r"^%%[^%]+%%$"

OP_RUN = "container/run"
OP_CREATE_VOLUME = "container/create-volume"


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
    chunked: bool | None = None


# --- expose and health checks ----------------------------------------------------------------


class HttpHealthCheck(Strict):
    type: Literal["http"]
    path: str
    method: Literal["GET", "POST", "PUT", "DELETE"]
    expected_status: Annotated[int, Field(ge=100, le=599)]
    headers: dict[str, str] | None = None
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
    type: Literal["web", "api", "webapi", "websocket", "none"] | None = None
    health_checks: list[HealthCheck] | None = None


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
    restart_tries: Annotated[int, Field(ge=0)] | None = None


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
    files: list[str] | None = None


class S3Credentials(Strict):
    REGION: str
    ACCESS_KEY_ID: str
    SECRET_ACCESS_KEY: str


class S3Resource(Strict):
    type: Literal["S3"]
    target: str
    url: str | None = None
    files: list[str] | None = None
    bucket: str | None = None
    buckets: list[S3Bucket] | None = None
    allowWrite: bool | None = None
    IAM: S3Credentials | None = None

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
    revision: str | None = None
    files: list[str] | None = None
    accessToken: str | None = None


class OllamaResource(Strict):
    type: Literal["Ollama"]
    model: str
    target: str | None = None


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
    username: str | None = None
    password: str | None = None
    email: str | None = None
    server: str | None = None


class Authentication(Strict):
    docker: DockerAuth | None = None


class ContainerRunArgs(Strict):
    image: str
    cmd: Command | None = None
    entrypoint: Command | None = None
    env: dict[str, str] | None = None
    work_dir: str | None = None
    gpu: bool | None = None
    volumes: list[VolumeMount] | None = None
    expose: Expose | None = None
    private: bool | None = None
    restart_policy: RestartPolicy | None = None
    aliases: StringOrList | None = None
    resources: list[Resource] | None = None
    authentication: Authentication | None = None


class CreateVolumeArgs(Strict):
    name: str


# --- operations --------------------------------------------------------------------------------


class Execution(Strict):
    group: str | None = None
    depends_on: list[str] | None = None
    stop_if_dependent_stops: bool | None = None
    timeout: Annotated[int | float, Field(gt=0)] | None = None


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
    results: dict[str, ResultValue] | None = None
    execution: Execution | None = None

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
    image: str | None = None
    gpu: bool | None = None
    entrypoint: Command | None = None
    env: dict[str, str] | None = None
    work_dir: str | None = None
    variables: dict[str, str] | None = None


class LogisticArgs(Strict):
    endpoint: str | None = None


class Logistic(Strict):
    type: Literal["api", "api-listen"]
    args: LogisticArgs | None = None


class Logistics(Strict):
    send: Logistic
    receive: Logistic


class Ssh(Strict):
    public_keys: list[str] | None = None


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
    meta: dict[str, Any] | None = None
    global_: Global | None = Field(default=None, alias="global")
    logistics: Logistics | None = None
    deployment_id: str | None = None
    ssh: Ssh | None = None

    def op(self, op_id: str) -> RunOperation | CreateVolumeOperation:
        for op in self.ops:
            if op.id == op_id:
                return op
        raise KeyError(op_id)


def job_schema() -> dict[str, Any]:
    """The JSON Schema of a job definition (by alias: ``global``, ``__spread__``)."""
    return JobDefinition.model_json_schema(by_alias=True)
