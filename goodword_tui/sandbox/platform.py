"""The emulated Goodword platform: moto for AWS, fakesnow plus our account layer for Snowflake, on loopback.

`SandboxPlatform` starts both servers, seeds the hand-off, applies a scenario through the real APIs, and writes
a config (and a connector `connections.toml`) that points the dashboard at them. The production `config.toml`
is the template: the sandbox config is the same file with moto's ids and the local endpoints put in.

With `faults=True` (what `sandbox serve` and the demo use) the dashboard's config points at fault proxies in
front of AWS, Snowflake and the PostgreSQL state port instead (sandbox/faults.py): `platform.faults["aws"]`,
`["snowflake"]`, `["state"]` switch faults at run time, and `start()` also opens the loopback control endpoint
`goodword-tui sandbox fault` talks to. The sandbox's own admin connections bypass the proxies, so a fault
never stops a scenario from loading.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit

from goodword_tui.sandbox.scenarios import scenario

if TYPE_CHECKING:
    from goodword_tui.sandbox.aws import AwsSandbox
    from goodword_tui.sandbox.faults import ControlServer, FaultProxy, FaultTarget, HttpFaultProxy
    from goodword_tui.sandbox.snowflake import SnowflakeSandbox

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"
CONNECTION_NAME = "goodword"
AWS_PROFILE = "goodword-sandbox"
SANDBOX_CONFIG_NAME = "goodword-sandbox.toml"
STATE_DATABASE = ("127.0.0.1", 5432)  # the PostgreSQL SQLMesh state port the `state` fault target sits in front of


def _write_private(path: Path, text: str) -> None:
    """Create or replace a file readable by its owner only, atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SandboxPlatform:
    """Both emulators, seeded and described by a config file the dashboard can use as-is."""

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        base_config: Path | None = None,
        client_ip: str | None = None,
        aws: AwsSandbox | None = None,
        snowflake: SnowflakeSandbox | None = None,
        faults: bool = False,
    ) -> None:
        """`aws` / `snowflake`: emulators already running (tests share one of each per session).

        `faults`: put fault proxies in front of every endpoint the dashboard uses (see the module docstring).
        """
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="goodword-sandbox-"))
        from goodword_tui.journal import make_private_dir

        make_private_dir(self.state_dir)  # it holds the sandbox's credentials: 0700, parents made on the way too
        self.base_config = Path(base_config or REPO_CONFIG)
        self._client_ip = client_ip
        self.scenario_name = "handoff"
        self.config_path = self.state_dir / SANDBOX_CONFIG_NAME
        self.connections_path = self.state_dir / "connections.toml"
        self.credentials_path = self.state_dir / "aws-credentials"
        from goodword_tui.sandbox.aws import AwsSandbox
        from goodword_tui.sandbox.snowflake import SnowflakeSandbox

        self._owns_servers = aws is None
        self.aws = aws or AwsSandbox()
        self.snowflake = snowflake or SnowflakeSandbox(
            self.state_dir / "snowflake", client_ip=client_ip or "203.0.113.10"
        )
        self.topology: Any = None
        self._conn: Any = None
        self._with_faults = faults
        self._proxies: dict[str, FaultProxy | HttpFaultProxy] = {}
        self.faults: dict[str, FaultTarget] = {}  # filled when the proxies start (with `faults=True`)
        self.control: ControlServer | None = None
        from goodword_tui.sandbox.sqlmesh import SqlMeshSandbox

        # Its state is built in the background on the first load (a plan takes seconds; the config is written
        # at once and the SQLMesh pane says "preparing" meanwhile).
        self.sqlmesh = SqlMeshSandbox(self.state_dir)

    # ----------------------------------------------------------------------------------------------------------
    # Life cycle

    def start(self, scenario_name: str = "handoff") -> Path:
        """Start both servers, seed the hand-off, apply the scenario, write the config; returns its path."""
        if not self.base_config.is_file():
            raise FileNotFoundError(f"base config {self.base_config} not found (pass --base-config)")
        if self._owns_servers:
            self.aws.start()
            self.snowflake.start()
        self.load(scenario_name)
        if self._with_faults:
            self.start_control()
        return self.config_path

    def start_faults(self) -> dict[str, FaultTarget]:
        """Start the fault proxies (once); the next `write_config` points the dashboard through them."""
        from goodword_tui.sandbox.faults import FaultProxy, HttpFaultProxy, ProxyTarget, SnowflakeTarget

        if not self._proxies:
            aws = HttpFaultProxy(*self.aws.address, service="aws").start()
            snowflake = HttpFaultProxy(self.snowflake.host, self.snowflake.port, service="snowflake").start()
            state = FaultProxy(*STATE_DATABASE).start()
            self._proxies = {"aws": aws, "snowflake": snowflake, "state": state}
            self.faults = {
                "aws": ProxyTarget(aws),
                "snowflake": SnowflakeTarget(snowflake, self.snowflake),
                "state": ProxyTarget(state),
            }
        return self.faults

    def start_control(self) -> Path:
        """The loopback endpoint `goodword-tui sandbox fault` uses; returns the 0600 file naming it."""
        from goodword_tui.sandbox.faults import ControlServer

        if self.control is None:
            self.control = ControlServer(self.start_faults(), self.state_dir).start()
        return self.control.path

    def clear_faults(self) -> None:
        for target in self.faults.values():
            target.clear()

    def load(self, scenario_name: str) -> Path:
        """Reset both emulators through their APIs and bring them to a scenario; shared servers use this.

        Any fault is cleared first: a scenario starts from a healthy platform.
        """
        chosen = scenario(scenario_name)
        if self._with_faults:
            self.start_faults()
            self.clear_faults()
        from goodword_tui.sandbox.aws import seed_handoff as seed_aws
        from goodword_tui.sandbox.snowflake import seed_handoff as seed_snowflake

        self.aws.reset()
        self.aws.seed()
        self.topology = seed_aws(self.aws)
        # The operator sits on the access server: Snowflake sees its public address unless told otherwise.
        self.snowflake.reset()
        self.snowflake.set_client_ip(self._client_ip or self.topology.access_public_ip or "203.0.113.10")
        self.sql("SELECT CURRENT_USER()")  # a live session before seeding (the reset may have ended ours)
        seed_snowflake(self._connection())
        chosen.apply(self)
        self.sqlmesh.start()
        self.sqlmesh.use(chosen.sqlmesh_state)
        self.scenario_name = chosen.name
        self.write_config()
        return self.config_path

    def stop(self) -> None:
        if self.control is not None:
            self.control.stop()
            self.control = None
        for proxy in self._proxies.values():
            proxy.stop()
        self._proxies, self.faults = {}, {}
        self.sqlmesh.stop()
        if self._conn is not None:
            # Closing a session on a server going down is best effort.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._owns_servers:
            self.snowflake.stop()
            self.aws.stop()

    def __enter__(self) -> SandboxPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------------------------------------------------
    # Talking to the emulators through the real clients

    def _connection(self) -> Any:
        import snowflake.connector

        if self._conn is None or self._conn.is_closed():
            self._conn = snowflake.connector.connect(**self.snowflake.connect_kwargs())
        return self._conn

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Run one statement as the sandbox's administrator and return its rows (logging in again if needed)."""
        from goodword_tui.sources.snowflake import SESSION_GONE_CODES

        try:
            return self._sql(statement)
        except Exception as exc:
            if getattr(exc, "errno", None) not in SESSION_GONE_CODES:
                raise
            self._conn = None  # the emulator forgot the session (reset, expiry): a new login
            return self._sql(statement)

    def _sql(self, statement: str) -> list[tuple[Any, ...]]:
        cur = self._connection().cursor()
        try:
            cur.execute(statement)
            return list(cur.fetchall())
        finally:
            cur.close()

    # ----------------------------------------------------------------------------------------------------------
    # The config the dashboard reads

    def endpoints(self) -> dict[str, str]:
        proxied = {f"{name} (faults)": f"127.0.0.1:{proxy.port}" for name, proxy in self._proxies.items()}
        control = {"fault control": str(self.control.path)} if self.control is not None else {}
        return {
            "aws": self.aws.endpoint_url,
            "snowflake": self.snowflake.url,
            **proxied,
            **control,
            "config": str(self.config_path),
            "connections": str(self.connections_path),
            "state_dir": str(self.state_dir),
            "scenario": self.scenario_name,
            "sqlmesh_project": str(self.sqlmesh.project_dir),
        }

    def write_config(self) -> Path:
        from goodword_tui.sandbox.aws import SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY
        from goodword_tui.sandbox.snowflake import write_connections_toml

        snowflake_proxy = self._proxies.get("snowflake")
        overrides = {"port": snowflake_proxy.port} if snowflake_proxy is not None else {}
        write_connections_toml(
            self.connections_path, connection_name=CONNECTION_NAME, **self.snowflake.connect_kwargs(**overrides)
        )
        # moto accepts any key; these dummy ones live in a standard shared credentials file, never in the config.
        _write_private(
            self.credentials_path,
            f"[{AWS_PROFILE}]\naws_access_key_id = {SANDBOX_ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {SANDBOX_SECRET_ACCESS_KEY}\n",
        )
        doc = tomlkit.parse(self.base_config.read_text(encoding="utf-8"))
        self._point_at_sandbox(doc)
        chosen = scenario(self.scenario_name)
        if chosen.baseline is not None:
            chosen.baseline(doc, self)
        _write_private(self.config_path, tomlkit.dumps(doc))
        return self.config_path

    def _url(self, target: str, direct: str) -> str:
        """Where the dashboard reaches a target: through its fault proxy when there is one."""
        proxy = self._proxies.get(target)
        return f"http://127.0.0.1:{proxy.port}" if proxy is not None else direct

    def _point_at_sandbox(self, doc: Any) -> None:
        aws = doc["aws"]
        aws["endpoint_url"] = self._url("aws", self.aws.endpoint_url)
        aws["region"] = self.aws.region
        aws["profile"] = AWS_PROFILE
        aws["shared_credentials_file"] = str(self.credentials_path)
        # The hand-off's ids become moto's; everything found by Name tag stays as it is.
        ids = self.topology.handoff_id_map()
        sections = [aws.get("peering") or {}]
        for key in ("vpcs", "route_tables", "security_groups", "endpoints", "instances"):
            sections += list(aws.get(key, []))
        for table in sections:
            if table.get("id") in ids:
                table["id"] = ids[table["id"]]
        topo = self.topology
        sf = doc["snowflake"]
        sf["connection_name"] = CONNECTION_NAME
        sf["connections_file"] = str(self.connections_path)
        sf["login_timeout_s"] = 5
        sf["network_timeout_s"] = 10
        platform = doc["platform"]
        platform["name"] = "Goodword (sandbox)"
        platform["s3_bucket"] = topo.bucket
        platform["journal_path"] = str(self.state_dir / "journal.jsonl")
        sqlmesh = doc.get("sqlmesh")
        if sqlmesh is None:
            sqlmesh = tomlkit.table()
            doc["sqlmesh"] = sqlmesh
        for key, value in self.sqlmesh.config_section().items():
            sqlmesh[key] = value
        probes = tomlkit.aot()
        state = self._proxies.get("state")
        state_host, state_port = state.address if state is not None else STATE_DATABASE
        snowflake_url = self._url("snowflake", self.snowflake.url)
        for name, spec in (
            ("Snowflake host", {"kind": "http", "url": snowflake_url + "/", "expect_status": [200, 302]}),
            ("SQLMesh state database", {"kind": "tcp", "host": state_host, "port": state_port}),
        ):
            table = tomlkit.table()
            table["name"] = name
            for key, value in spec.items():
                table[key] = value
            probes.append(table)
        doc["probes"] = probes
