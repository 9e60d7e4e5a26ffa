"""config.toml: the production file validates, and every kind of bad file gets one clear line per problem."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from goodword_tui.config import ConfigError, load_settings, parse_settings

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config.toml"


def base() -> dict:
    return tomllib.loads(REPO_CONFIG.read_text())


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return caught.value.problems


def test_production_config_describes_the_handoff() -> None:
    s = load_settings(REPO_CONFIG)
    assert s.snowflake.account == "vsc91540.us-east-1"
    assert s.snowflake.policy == "INTEGRATIONS"
    assert len(s.snowflake.allowed) == 15
    assert all(entry.label for entry in s.snowflake.allowed)
    assert {e.label for e in s.snowflake.allowed} >= {"Operations VPC", "Goodword VPC", "Tailscale", "Airbyte Cloud US"}
    assert s.aws.peering is not None and s.aws.peering.id == "pcx-093256f9adcfae896"
    assert sum(1 for t in s.aws.route_tables if t.vpc == "goodword") == 5
    assert {i.private_ip for i in s.aws.instances} == {"172.22.1.15", "172.22.2.106", "172.20.0.91"}
    assert s.aws.endpoints[0].id == "vpce-06cd22830fe1f953c"
    assert {r.name for r in s.snowflake.rules} == {"GOODWORD_WH.RAW.ANY", "AIRBYTE_DB.RAW.AIRBYTE"}
    assert not s.read_only


def test_cidr_with_host_bits_names_the_key_the_value_and_the_fix() -> None:
    data = base()
    data["snowflake"]["allowed"][0]["cidr"] = "172.22.0.1/16"
    (line,) = problems(data)
    assert line.startswith("snowflake.allowed[0].cidr = '172.22.0.1/16'")
    assert "host bits set" in line


def test_every_problem_is_reported_not_just_the_first() -> None:
    data = base()
    data["snowflake"]["allowed"][1]["cidr"] = "not-an-ip"
    data["aws"]["instances"][0]["private_ip"] = "172.22.1.999"
    data["platform"]["refresh_interval_s"] = 0
    data["platform"]["colour"] = "red"
    lines = problems(data)
    assert len(lines) == 4
    joined = "\n".join(lines)
    assert "snowflake.allowed[1].cidr = 'not-an-ip'" in joined
    assert "aws.instances[0].private_ip = '172.22.1.999'" in joined
    assert "platform.refresh_interval_s = 0" in joined
    assert "platform.colour: unknown key" in joined


def test_duplicate_allowed_entry_and_unknown_vpc_key() -> None:
    data = base()
    data["snowflake"]["allowed"].append({"cidr": "172.22.0.0/16", "label": "again"})
    data["aws"]["route_tables"][0]["vpc"] = "nowhere"
    joined = "\n".join(problems(data))
    assert "172.22.0.0/16 is listed twice" in joined
    assert "route_tables[0].vpc = 'nowhere'" in joined


def test_missing_required_section() -> None:
    data = base()
    del data["snowflake"]
    assert problems(data) == ["snowflake: missing, this key is required"]


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[aws\nregion = ")
    with pytest.raises(ConfigError) as caught:
        load_settings(bad)
    assert caught.value.problems[0].startswith("not valid TOML")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.toml")
    assert "file not found" in caught.value.problems[0]


def test_world_writable_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(REPO_CONFIG.read_text())
    os.chmod(path, 0o666)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "writable by every user" in caught.value.problems[0]


def test_a_config_in_a_folder_every_user_can_write_is_refused_unless_sticky(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(REPO_CONFIG.read_text())
    folder.chmod(0o777)  # anyone could replace the file
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"the folder {folder} is writable by every user (mode drwxrwxrwx): anyone could replace the file; "
        f"run chmod o-w {folder} or use a private folder"
    ]
    folder.chmod(0o1777)  # like /tmp: only a file's owner may replace it
    assert load_settings(path).snowflake.policy == "INTEGRATIONS"


def test_a_group_writable_config_is_accepted(tmp_path: Path) -> None:
    """By decision (config.unsafe_path_problems): user private groups and on-call team groups are trusted."""
    path = tmp_path / "config.toml"
    path.write_text(REPO_CONFIG.read_text())
    os.chmod(path, 0o664)
    assert load_settings(path).platform.name


def test_a_journal_path_every_user_could_tamper_with_is_refused_at_load(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    path = tmp_path / "config.toml"
    path.write_text(REPO_CONFIG.read_text().replace("[platform]", '[platform]\njournal_path = "shared/j.jsonl"', 1))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"platform.journal_path: the folder {shared} is writable by every user")
    shared.chmod(0o700)
    (shared / "j.jsonl").write_text("")
    (shared / "j.jsonl").chmod(0o666)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.problems == [
        f"platform.journal_path: the journal {shared / 'j.jsonl'} is writable by every user (mode -rw-rw-rw-); "
        f"run chmod o-w {shared / 'j.jsonl'}"
    ]


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(REPO_CONFIG.read_text())
    s = load_settings(path)
    assert s.resolve("sqlmesh_project") == tmp_path / "sqlmesh_project"
    assert s.resolve("/abs/x") == Path("/abs/x")


toml_scalars = st.one_of(
    st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.text(max_size=5))
)


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(["platform", "aws", "snowflake", "sqlmesh"]), key=st.text(max_size=20), value=toml_scalars
)
def test_any_value_anywhere_is_accepted_or_reported_never_raised(section: str, key: str, value: object) -> None:
    data = base()
    data[section][key] = value
    try:
        parse_settings(data)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        assert "Traceback" not in exc.render()
