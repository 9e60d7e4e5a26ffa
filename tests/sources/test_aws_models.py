"""The read side's cut-down AWS models: clients made from them hold only the source's reads and read exactly
what botocore's full models read; a copy that is broken or not ours is made again; with no cache, the full
models are used."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import botocore.loaders
import pytest

from goodword_tui.config import Settings
from goodword_tui.sandbox.aws import AwsSandbox, AwsTopology
from goodword_tui.sources.aws import CALLS, fetch_aws, make_client, make_session, read_operations
from goodword_tui.sources.aws_models import cut_down, models_folder, read_loader

WRITES = ("create_route", "delete_route", "accept_vpc_peering_connection", "authorize_security_group_ingress")


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "goodword-tui" / "botocore-models"


def model_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*/*/service-2.json"))


async def test_reading_clients_hold_only_the_reads_and_read_what_the_full_models_read(
    aws_handoff: tuple[AwsSandbox, AwsTopology], sandbox_settings: Settings, cache: Path
) -> None:
    reading = make_session(sandbox_settings, reads_only=True)
    ec2 = make_client(reading, "ec2", sandbox_settings)
    assert set(ec2.meta.service_model.operation_names) == {c.operation for c in CALLS if c.client == "ec2"}
    assert not any(hasattr(ec2, write) for write in WRITES)  # nothing to send a write with, guard or not
    assert [p.relative_to(cache).parts[1] for p in model_files(cache)] == ["ec2", "sts"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in model_files(cache))

    full = make_session(sandbox_settings)
    assert all(hasattr(make_client(full, "ec2", sandbox_settings), write) for write in WRITES)
    cut, whole = await fetch_aws(sandbox_settings, reading), await fetch_aws(sandbox_settings, full)
    assert cut.error is None and whole.error is None
    assert cut.data == whole.data and cut.data is not None and cut.data.security_groups


def test_a_broken_or_foreign_copy_is_made_again(tmp_path: Path) -> None:
    full = botocore.loaders.Loader()
    wanted = tuple(sorted((service, tuple(sorted(names))) for service, names in read_operations().items()))
    folder = models_folder(full, wanted, tmp_path)
    assert folder is not None
    ec2 = next(p for p in model_files(tmp_path) if "/ec2/" in str(p))
    whole = ec2.read_bytes()

    ec2.write_bytes(whole[: len(whole) // 2])  # a write cut short (a full disk, a crash)
    assert models_folder(full, wanted, tmp_path) == folder
    assert ec2.read_bytes() == whole

    ec2.chmod(0o666)  # anyone could have rewritten it: not trusted, made again, owner-only
    assert models_folder(full, wanted, tmp_path) == folder
    assert stat.S_IMODE(ec2.stat().st_mode) == 0o600 and ec2.read_bytes() == whole

    operations = json.loads(whole)["operations"]
    assert sorted(operations) == sorted(c.operation for c in CALLS if c.client == "ec2")


def test_without_a_cache_folder_the_full_models_are_used(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    loader = read_loader(read_operations(), root=blocked / "models")
    model = loader.load_service_model("ec2", "service-2")
    assert "CreateRoute" in model["operations"]  # botocore's own: slower, still right


def test_an_operation_botocore_does_not_know_is_an_error_not_a_smaller_model() -> None:
    model = botocore.loaders.Loader().load_service_model("sts", "service-2")
    with pytest.raises(KeyError, match="DescribeNothing"):
        cut_down(model, ["GetCallerIdentity", "DescribeNothing"])
