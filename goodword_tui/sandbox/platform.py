"""The emulated Goodword platform: moto for AWS, fakesnow plus our account layer for Snowflake, on loopback.

`SandboxPlatform` starts both servers, seeds the hand-off, applies a scenario through the real APIs, and writes
a config (and a connector `connections.toml`) that points the dashboard at them. The production `config.toml`
is the template: the sandbox config is the same file with moto's ids and the local endpoints put in.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import tomlkit

from goodword_tui.sandbox.scenarios import scenario

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"
CONNECTION_NAME = "goodword"
SANDBOX_CONFIG_NAME = "goodword-sandbox.toml"


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
    ) -> None:
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="goodword-sandbox-"))
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.base_config = Path(base_config or REPO_CONFIG)
        self._client_ip = client_ip
        self.scenario_name = "handoff"
        self.config_path = self.state_dir / SANDBOX_CONFIG_NAME
        self.connections_path = self.state_dir / "connections.toml"
        from goodword_tui.sandbox.aws import AwsSandbox
        from goodword_tui.sandbox.snowflake import SnowflakeSandbox

        self.aws = AwsSandbox()
        self.snowflake = SnowflakeSandbox(self.state_dir / "snowflake", client_ip=client_ip or "203.0.113.10")
        self.topology: Any = None
        self._conn: Any = None

    # ----------------------------------------------------------------------------------------------------------
    # Life cycle

    def start(self, scenario_name: str = "handoff") -> Path:
        """Start both servers, seed the hand-off, apply the scenario, write the config; returns its path."""
        if not self.base_config.is_file():
            raise FileNotFoundError(f"base config {self.base_config} not found (pass --base-config)")
        self.aws.start()
        self.snowflake.start()
        self.load(scenario_name)
        return self.config_path

    def load(self, scenario_name: str) -> Path:
        """Reset both emulators through their APIs and bring them to a scenario; shared servers use this."""
        chosen = scenario(scenario_name)
        from goodword_tui.sandbox.aws import seed_handoff as seed_aws
        from goodword_tui.sandbox.snowflake import seed_handoff as seed_snowflake

        self.aws.reset()
        self.aws.seed()
        self.topology = seed_aws(self.aws)
        # The operator sits on the access server: Snowflake sees its public address unless told otherwise.
        self.snowflake.reset()
        self.snowflake.set_client_ip(self._client_ip or self.topology.access_public_ip or "203.0.113.10")
        seed_snowflake(self._connection())
        chosen.apply(self)
        self.scenario_name = chosen.name
        self.write_config()
        return self.config_path

    def stop(self) -> None:
        if self._conn is not None:
            # Closing a session on a server going down is best effort.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
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
        """Run one statement as the sandbox's administrator and return its rows."""
        cur = self._connection().cursor()
        try:
            cur.execute(statement)
            return list(cur.fetchall())
        finally:
            cur.close()

    # ----------------------------------------------------------------------------------------------------------
    # The config the dashboard reads

    def endpoints(self) -> dict[str, str]:
        return {
            "aws": self.aws.endpoint_url,
            "snowflake": self.snowflake.url,
            "config": str(self.config_path),
            "connections": str(self.connections_path),
            "state_dir": str(self.state_dir),
            "scenario": self.scenario_name,
        }

    def write_config(self) -> Path:
        from goodword_tui.sandbox.snowflake import write_connections_toml

        write_connections_toml(
            self.connections_path, connection_name=CONNECTION_NAME, **self.snowflake.connect_kwargs()
        )
        doc = tomlkit.parse(self.base_config.read_text(encoding="utf-8"))
        self._point_at_sandbox(doc)
        _write_private(self.config_path, tomlkit.dumps(doc))
        return self.config_path

    def _point_at_sandbox(self, doc: Any) -> None:
        topo = self.topology
        aws = doc["aws"]
        aws["endpoint_url"] = self.aws.endpoint_url
        aws["region"] = self.aws.region
        aws.pop("profile", None)
        for vpc in aws.get("vpcs", []):
            vpc["id"] = topo.vpcs[vpc["key"]]
        if "peering" in aws:
            aws["peering"]["id"] = topo.peering_id
        for table in aws.get("route_tables", []):
            if table.get("name_tag") in topo.route_tables:
                table["id"] = topo.route_tables[table["name_tag"]]
        for group in aws.get("security_groups", []):
            key = group.get("name") or group.get("label")
            found = topo.security_groups.get(key) or topo.security_groups.get(group.get("label", ""))
            if found:
                group["id"] = found
        for endpoint in aws.get("endpoints", []):
            endpoint["id"] = topo.endpoint_id
        for instance in aws.get("instances", []):
            instance["id"] = topo.instances[instance["key"]]
        sf = doc["snowflake"]
        sf["connection_name"] = CONNECTION_NAME
        sf["connections_file"] = str(self.connections_path)
        sf["login_timeout_s"] = 5
        sf["network_timeout_s"] = 10
        platform = doc["platform"]
        platform["name"] = "Goodword (sandbox)"
        platform["s3_bucket"] = topo.bucket
        platform["journal_path"] = str(self.state_dir / "journal.jsonl")
        probes = tomlkit.aot()
        for name, spec in (
            ("Snowflake host", {"kind": "http", "url": self.snowflake.url + "/", "expect_status": [200, 302]}),
            ("SQLMesh state database", {"kind": "tcp", "host": "127.0.0.1", "port": 5432}),
        ):
            table = tomlkit.table()
            table["name"] = name
            for key, value in spec.items():
                table[key] = value
            probes.append(table)
        doc["probes"] = probes
