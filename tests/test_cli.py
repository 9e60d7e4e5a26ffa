"""The headless CLI against the sandbox: exit codes, the stable JSON, why/reach, and bad input."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import tomlkit
from click.testing import CliRunner

from goodword_tui.cli import main
from goodword_tui.config import Settings
from goodword_tui.sandbox.platform import SandboxPlatform


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def config_of(settings: Settings) -> str:
    assert settings.source_path
    return settings.source_path


def test_check_json_on_the_handoff(load_scenario: Callable[[str], Settings]) -> None:
    code, out, _ = invoke("check", "--json", "-c", config_of(load_scenario("handoff")))
    assert code == 2
    data = json.loads(out)
    assert data["version"] == 1 and data["exit_code"] == 2
    assert {s["source"] for s in data["sources"]} == {"aws", "snowflake", "probes", "sqlmesh"}
    assert all(s["ok"] and s["error"] is None for s in data["sources"])
    first = data["findings"][0]
    assert set(first) == {"severity", "code", "area", "resource", "message", "evidence", "fix"}
    assert first["severity"] == "critical" and first["code"] == "SF_ADMITS_ALL"
    assert data["summary"]["critical"] == sum(1 for f in data["findings"] if f["severity"] == "critical")


def test_check_text_groups_by_area_and_exits_1_when_only_warnings(load_scenario: Callable[[str], Settings]) -> None:
    code, out, _ = invoke("check", "-c", config_of(load_scenario("healthy")))
    assert code == 1
    assert "SNOWFLAKE" in out and "CRITICAL" not in out.split("\n\n")[-1].split(":")[0]
    assert out.rstrip().endswith("warnings (exit 1)")


def test_check_exits_3_when_a_source_is_unreachable(load_scenario: Callable[[str], Settings], tmp_path: Path) -> None:
    settings = load_scenario("handoff")
    doc = tomlkit.parse(Path(config_of(settings)).read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    doc["aws"]["endpoint_url"] = f"http://127.0.0.1:{dead}"
    doc["aws"]["connect_timeout_s"] = 1
    doc["aws"]["max_attempts"] = 1
    path = tmp_path / "dead-aws.toml"
    path.write_text(tomlkit.dumps(doc))
    code, out, _ = invoke("check", "--json", "-c", str(path))
    assert code == 3
    data = json.loads(out)
    aws = next(s for s in data["sources"] if s["source"] == "aws")
    assert aws["ok"] is False and aws["error"]["kind"] == "unreachable"
    assert any(f["code"] == "SOURCE_UNAVAILABLE" for f in data["findings"])


def test_snapshot_json_carries_every_source(load_scenario: Callable[[str], Settings]) -> None:
    code, out, _ = invoke("snapshot", "--json", "-c", config_of(load_scenario("handoff")))
    assert code == 0
    snap = json.loads(out)["snapshot"]
    assert len(snap["aws"]["data"]["route_tables"]) >= 7
    assert snap["snowflake"]["data"]["policy"]["name"] == "INTEGRATIONS"
    assert len(snap["snowflake"]["data"]["policy"]["allowed_ips"]) == 15


def test_why_names_the_deciding_entry(load_scenario: Callable[[str], Settings]) -> None:
    config = config_of(load_scenario("healthy"))
    code, out, _ = invoke("why", "34.106.109.131", "-c", config)
    assert code == 0 and "34.106.109.131" in out and "ALLOWED_IP_LIST" in out
    code, out, _ = invoke("why", "198.51.100.7", "-c", config)
    assert code == 1 and "198.51.100.7" in out


def test_reach_explains_the_path_and_where_it_breaks(
    load_scenario: Callable[[str], Settings], sandbox_platform: SandboxPlatform
) -> None:
    code, out, _ = invoke("reach", "172.22.2.106", "172.20.0.91", "-c", config_of(load_scenario("handoff")))
    assert code == 0, out
    assert "pcx-" in out
    code, out, _ = invoke("reach", "172.20.0.91", "172.22.2.106", "-c", config_of(load_scenario("peering-pending")))
    assert code == 1
    assert "pending" in out.lower()


def test_bad_input_gets_one_line_and_exit_4(tmp_path: Path) -> None:
    code, _, err = invoke("why", "300.1.2.3", "-c", str(tmp_path / "unused.toml"))
    assert code == 4 and "not an IP address" in err and "Traceback" not in err
    bad = tmp_path / "bad.toml"
    bad.write_text('[snowflake]\naccount = "x"\nallowed = [{ cidr = "10.0.0.1/8", label = "x" }]\n')
    code, _, err = invoke("check", "-c", str(bad))
    assert code == 4
    assert "snowflake.allowed[0].cidr = '10.0.0.1/8'" in err and "Traceback" not in err


def test_export_writes_a_report_with_its_checksum(load_scenario: Callable[[str], Settings], tmp_path: Path) -> None:
    import hashlib

    config = config_of(load_scenario("handoff"))
    code, out, _ = invoke("export", "--format", "json", "--out-dir", str(tmp_path), "--read-only", "-c", config)
    assert code == 0, out
    report = Path(out.split("report: ")[1].splitlines()[0])
    digest = out.split("sha256: ")[1].split()[0]
    assert hashlib.sha256(report.read_bytes()).hexdigest() == digest
    assert oct(report.stat().st_mode & 0o777) == "0o600"
    data = json.loads(report.read_text())
    assert any(f["code"] == "SF_ADMITS_ALL" for f in data["findings"]["items"])
    assert "read-only" in out  # the note says why it was not uploaded
    code, _, err = invoke("export", "--since", "yesterday", "-c", config)
    assert code == 4 and "ISO 8601" in err
