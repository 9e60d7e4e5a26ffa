"""`config.toml` → validated settings and the baseline the platform is checked against.

The file describes the platform (no secrets). Credentials come only from the standard AWS chain and the
Snowflake connector's own `connections.toml`. A bad file raises `ConfigError`, whose `problems` list one line
per problem: where it is, the value found, and what was expected. Never a traceback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(Exception):
    """A config file that cannot be used; `problems` holds one readable line per problem."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"Configuration error in {self.path}:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# Field types


def _ipv4_network(value: str) -> str:
    """A strict IPv4 network: no host bits set. Single addresses are kept as written (Snowflake keeps them)."""
    text = value.strip()
    try:
        ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"expected an IPv4 address or CIDR such as 10.0.0.0/8 ({exc})") from None
    return text


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("expected an IP address such as 172.22.2.106") from None
    return value.strip()


Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_network)]
IpAddress = Annotated[str, AfterValidator(_ip_address)]
Seconds = Annotated[float, Field(gt=0, le=600)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------------------------
# Sections


class PlatformSettings(_Strict):
    name: str = "Goodword"
    mode: Literal["write", "read-only"] = "write"
    refresh_interval_s: Annotated[float, Field(ge=2, le=3600)] = 30.0
    journal_path: str | None = None  # default: the user's state directory
    s3_bucket: str | None = None  # journal and reports are uploaded here when set
    bindings: dict[str, str] = Field(default_factory=dict)  # binding id → key(s), e.g. refresh = "f5"


class VpcSpec(_Strict):
    key: str  # how the rest of the file refers to it, e.g. "operations"
    label: str
    id: str | None = None
    name_tag: str | None = None
    cidr: Ipv4Cidr

    @model_validator(mode="after")
    def _identified(self) -> VpcSpec:
        if not self.id and not self.name_tag:
            raise ValueError("give the VPC an `id` or a `name_tag` so it can be found")
        return self


class PeeringSpec(_Strict):
    id: str | None = None
    name_tag: str | None = None
    requester: str  # VPC key
    accepter: str  # VPC key


class ExpectedRoute(_Strict):
    destination: Ipv4Cidr
    target: Literal["peering", "nat", "igw", "local", "vpce"] = "peering"


class RouteTableSpec(_Strict):
    vpc: str  # VPC key
    label: str = ""
    id: str | None = None
    name_tag: str | None = None
    routes: tuple[ExpectedRoute, ...] = ()

    @model_validator(mode="after")
    def _identified(self) -> RouteTableSpec:
        if not self.id and not self.name_tag:
            raise ValueError("give the route table an `id` or a `name_tag` so it can be found")
        return self


class ExpectedSgRule(_Strict):
    direction: Literal["ingress", "egress"] = "ingress"
    protocol: Literal["icmp", "tcp", "udp", "-1"]
    from_port: int | None = None  # None = all ports (or all ICMP types)
    to_port: int | None = None
    cidr: Ipv4Cidr

    @model_validator(mode="after")
    def _ports(self) -> ExpectedSgRule:
        for port in (self.from_port, self.to_port):
            if port is not None and not -1 <= port <= 65535:
                raise ValueError(f"port {port} is outside -1..65535")
        return self


class SecurityGroupSpec(_Strict):
    vpc: str
    label: str = ""
    id: str | None = None
    name: str | None = None  # the group name (GroupName)
    rules: tuple[ExpectedSgRule, ...] = ()

    @model_validator(mode="after")
    def _identified(self) -> SecurityGroupSpec:
        if not self.id and not self.name:
            raise ValueError("give the security group an `id` or a `name` so it can be found")
        return self


class EndpointSpec(_Strict):
    vpc: str
    label: str = ""
    id: str | None = None
    service: str  # e.g. com.amazonaws.us-east-2.execute-api


class InstanceSpec(_Strict):
    key: str
    label: str
    id: str | None = None
    name_tag: str | None = None
    private_ip: IpAddress
    vpc: str
    must_reach_snowflake: bool = False

    @model_validator(mode="after")
    def _identified(self) -> InstanceSpec:
        if not self.id and not self.name_tag:
            raise ValueError("give the instance an `id` or a `name_tag` so it can be found")
        return self


class AwsSettings(_Strict):
    region: str = "us-east-2"
    profile: str | None = None
    # A shared credentials file other than ~/.aws/credentials (the sandbox writes one); still the standard chain.
    shared_credentials_file: str | None = None
    endpoint_url: str | None = None  # the sandbox's moto server; empty for real AWS
    connect_timeout_s: Seconds = 5.0
    read_timeout_s: Seconds = 15.0
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    vpcs: tuple[VpcSpec, ...] = ()
    peering: PeeringSpec | None = None
    route_tables: tuple[RouteTableSpec, ...] = ()
    security_groups: tuple[SecurityGroupSpec, ...] = ()
    endpoints: tuple[EndpointSpec, ...] = ()
    instances: tuple[InstanceSpec, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> AwsSettings:
        keys = [v.key for v in self.vpcs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"VPC keys must be unique, found {keys}")
        known = set(keys)
        refs: list[tuple[str, str]] = []
        if self.peering:
            refs += [("peering.requester", self.peering.requester), ("peering.accepter", self.peering.accepter)]
        refs += [(f"route_tables[{i}].vpc", t.vpc) for i, t in enumerate(self.route_tables)]
        refs += [(f"security_groups[{i}].vpc", g.vpc) for i, g in enumerate(self.security_groups)]
        refs += [(f"endpoints[{i}].vpc", e.vpc) for i, e in enumerate(self.endpoints)]
        refs += [(f"instances[{i}].vpc", n.vpc) for i, n in enumerate(self.instances)]
        bad = [f"{where} = {key!r}" for where, key in refs if key not in known]
        if bad:
            raise ValueError(f"unknown VPC key ({', '.join(bad)}); known keys: {sorted(known)}")
        return self

    def vpc_spec(self, key: str) -> VpcSpec:
        return next(v for v in self.vpcs if v.key == key)


class AllowedEntry(_Strict):
    """One expected entry of the policy's allowed list, with the label people know it by."""

    cidr: Ipv4Cidr
    label: str
    protected: bool = False  # never removed without a typed confirmation


class ExpectedNetworkRule(_Strict):
    name: str  # fully qualified DB.SCHEMA.RULE
    list: Literal["allowed", "blocked"] = "allowed"
    type: str = "IPV4"
    mode: str = "INGRESS"
    values: tuple[str, ...] | None = None  # None: present, values not checked

    @field_validator("name")
    @classmethod
    def _qualified(cls, value: str) -> str:
        if len(value.split(".")) != 3:
            raise ValueError("expected a fully qualified rule name DB.SCHEMA.RULE")
        return value.upper()


class SnowflakeSettings(_Strict):
    account: str
    connection_name: str = "goodword"
    connections_file: str | None = None  # default: the connector's own lookup (~/.snowflake/connections.toml)
    policy: str = "INTEGRATIONS"
    login_timeout_s: Seconds = 10.0
    network_timeout_s: Seconds = 15.0
    allowed: tuple[AllowedEntry, ...] = ()
    blocked: tuple[Ipv4Cidr, ...] = ()
    rules: tuple[ExpectedNetworkRule, ...] = ()

    @field_validator("allowed")
    @classmethod
    def _unique(cls, entries: tuple[AllowedEntry, ...]) -> tuple[AllowedEntry, ...]:
        seen: set[ipaddress.IPv4Network] = set()
        for entry in entries:
            net = ipaddress.IPv4Network(entry.cidr)
            if net in seen:
                raise ValueError(f"{entry.cidr} is listed twice")
            seen.add(net)
        return entries


class SqlMeshSettings(_Strict):
    project_path: str = "sqlmesh_project"
    gateway: str = "local"
    environment: str = "prod"
    grace_s: Annotated[float, Field(ge=0)] = 3600.0
    # Judge freshness as of this instant instead of now: for a project whose data is a fixed snapshot (the
    # sandbox's seeds end on 2025-10-06), where against the real clock every model would look months behind.
    as_of: datetime | None = None
    connect_timeout_s: Seconds = 5.0  # connecting to the state database (caps the project's own setting)
    timeout_s: Seconds = 30.0  # one status read, end to end (the first one includes importing sqlmesh)

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is UTC (SQLMesh's own convention); every other zone is converted to UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ProbeSpec(_Strict):
    name: str
    kind: Literal["https", "http", "tcp"]
    url: str | None = None  # for http(s)
    host: str | None = None  # for tcp
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    expect_status: tuple[int, ...] = (200, 302)
    timeout_s: Seconds = 3.0

    @model_validator(mode="after")
    def _target(self) -> ProbeSpec:
        if self.kind == "tcp" and not (self.host and self.port):
            raise ValueError("a tcp probe needs `host` and `port`")
        if self.kind in ("http", "https") and not self.url:
            raise ValueError(f"an {self.kind} probe needs `url`")
        return self

    @property
    def target(self) -> str:
        return self.url if self.kind != "tcp" else f"{self.host}:{self.port}"


class Settings(_Strict):
    platform: PlatformSettings = PlatformSettings()
    aws: AwsSettings = AwsSettings()
    snowflake: SnowflakeSettings
    sqlmesh: SqlMeshSettings = SqlMeshSettings()
    probes: tuple[ProbeSpec, ...] = ()

    # Where the file was read from; relative paths in it are resolved against its folder.
    source_path: str | None = Field(default=None, exclude=True)

    @property
    def read_only(self) -> bool:
        return self.platform.mode == "read-only"

    def resolve(self, path: str) -> Path:
        """A path from the file, made absolute against the file's own folder (not the current directory)."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source_path is None:
            return p
        return Path(self.source_path).parent / p


# --------------------------------------------------------------------------------------------------------------
# Loading


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif item in ("function-after", "function-before") or str(item).startswith(("function-", "constrained-")):
            continue
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    where = _location(tuple(error.get("loc", ())))
    kind = error.get("type", "")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"{where}: unknown key (check its spelling; see config.toml in the repository for the keys)"
    if kind == "missing":
        return f"{where}: missing, this key is required"
    value = error.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{where} = {shown}: {message}"


def parse_settings(data: dict[str, Any], *, source: Path | str = "<config>") -> Settings:
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(e) for e in exc.errors()]) from None
    return settings.model_copy(update={"source_path": str(source)})


def unsafe_path_problems(path: Path, *, what: str = "the file", must_own: bool = False) -> list[str]:
    """Why every user could tamper with `path`: the file writable by every user, or its folder writable by every
    user without the sticky bit (anyone could replace the file); with `must_own`, a file someone else owns
    (it may have been planted before we created it). Empty when it is safe to trust.

    Group-writable is accepted on purpose: with user private groups (the default umask 002 of Debian, Ubuntu and
    Fedora) every file is group-writable by a group holding only its owner, and a team-shared config is kept
    writable by the on-call group, whose members already hold the platform's credentials. What we create
    ourselves is owner-only (0600 / 0700) either way.
    """
    problems: list[str] = []
    try:
        found = path.stat()
    except (OSError, ValueError):  # absent, unreachable or no path at all: writing it fails with its own message
        found = None
    if found is not None and found.st_mode & stat.S_IWOTH:
        problems.append(
            f"{what} {path} is writable by every user (mode {stat.filemode(found.st_mode)}); run chmod o-w {path}"
        )
    if found is not None and must_own and found.st_uid != os.geteuid():
        problems.append(
            f"{what} {path} belongs to another user (uid {found.st_uid}); move it aside or use another path"
        )
    folder = path.parent
    with contextlib.suppress(OSError, ValueError):
        mode = folder.stat().st_mode
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            problems.append(
                f"the folder {folder} is writable by every user (mode {stat.filemode(mode)}): anyone could replace "
                f"{what}; run chmod o-w {folder} or use a private folder"
            )
    return problems


def check_not_world_writable(path: Path) -> None:
    """Refuse a config others could rewrite (or replace): it decides which changes look correct."""
    problems = unsafe_path_problems(path)
    if problems:
        raise ConfigError(path, problems)


def load_settings(path: Path | str) -> Settings:
    """Read and validate a config file; every failure is a ConfigError with readable problems.

    A configured `platform.journal_path` that every user could tamper with is refused here too, before anything
    is changed and journaled there.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(p, ["file not found (pass --config PATH or set GOODWORD_TUI_CONFIG)"])
    check_not_world_writable(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(p, ["the file is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(p, [f"not valid TOML: {exc}"]) from None
    settings = parse_settings(data, source=p.resolve())
    if settings.platform.journal_path:
        journal = settings.resolve(settings.platform.journal_path)
        problems = unsafe_path_problems(journal, what="the journal", must_own=True)
        if problems:
            raise ConfigError(p, [f"platform.journal_path: {problem}" for problem in problems])
    return settings


def default_config_path() -> Path:
    env = os.environ.get("GOODWORD_TUI_CONFIG")
    return Path(env) if env else Path("config.toml")
