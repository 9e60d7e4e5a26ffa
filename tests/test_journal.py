"""The journal file: append-only JSON lines, fsync'd, 0600, torn lines survived, secrets redacted."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from goodword_tui.journal import REDACTED, Journal, Operator, UnsafePathError, default_journal_path, scrub
from tests.analysis.builders import handoff_settings

T0 = datetime(2025, 10, 5, 12, 0, tzinfo=UTC)


def intent(journal: Journal, *, reason: str = "INC-1", time: datetime = T0, **change: Any) -> str:
    return journal.write_intent(
        change={"id": "c1", "kind": "add_allowed_ip", "description": "Add 198.51.100.7", **change},
        before={"lines": ["a"]},
        after={"lines": ["a", "b"]},
        operator=Operator("oncall", "arn:aws:iam::1:user/oncall", "CHRIS", "ACCOUNTADMIN", "access"),
        mode="write",
        reason=reason,
        time=time,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_intent_and_result_are_appended_and_merged(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    entry_id = intent(journal)
    first = journal.path.read_bytes()
    assert mode(journal.path) == 0o600 and mode(journal.path.parent) == 0o700
    assert journal.pending()[0].id == entry_id
    journal.write_result(entry_id, "applied", verification={"ok": True, "detail": "seen"}, time=T0 + timedelta(1))
    assert journal.path.read_bytes().startswith(first)  # appended, never rewritten
    (entry,) = journal.entries()
    assert entry.applied and not entry.pending
    assert entry.operator["snowflake_user"] == "CHRIS" and entry.reason == "INC-1" and entry.mode == "write"
    assert entry.verification == {"ok": True, "detail": "seen"}
    assert [json.loads(line)["type"] for line in journal.path.read_text().splitlines()] == ["intent", "result"]


def test_every_record_is_fsynced_before_returning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    journal = Journal(tmp_path / "journal.jsonl")
    intent(journal)
    assert len(synced) >= 2  # the file, and its folder (a new directory entry)
    before = len(synced)
    journal.write_result("x", "applied")
    assert len(synced) == before + 1


def test_a_loosened_file_is_tightened_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    intent(journal)
    journal.path.chmod(0o644)
    intent(journal)
    assert mode(journal.path) == 0o600


def test_every_folder_the_journal_creates_is_owner_only(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "home" / "state" / "goodword-tui" / "journal.jsonl")
    intent(journal)
    assert [mode(p) for p in (tmp_path / "home", journal.path.parent.parent, journal.path.parent)] == [0o700] * 3
    assert mode(journal.path) == 0o600


def test_a_journal_every_user_could_tamper_with_is_refused_and_nothing_written(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    journal = Journal(shared / "journal.jsonl")
    with pytest.raises(UnsafePathError) as caught:
        intent(journal)
    assert str(caught.value) == (
        f"the folder {shared} is writable by every user (mode drwxrwxrwx): anyone could replace the journal; "
        f"run chmod o-w {shared} or use a private folder"
    )
    assert isinstance(caught.value, OSError)  # callers that guard file writes catch it as such
    assert not journal.path.exists()

    shared.chmod(0o1777)  # sticky, like /tmp: nobody else may replace our file
    intent(journal)
    assert mode(journal.path) == 0o600


def test_a_journal_file_someone_else_owns_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    intent(journal)
    size = journal.path.stat().st_size
    monkeypatch.setattr(os, "geteuid", lambda: journal.path.stat().st_uid + 1)  # as seen by another user
    with pytest.raises(UnsafePathError, match="belongs to another user"):
        intent(journal)
    assert journal.path.stat().st_size == size


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_record_starts_clean(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    first = intent(journal)
    with journal.path.open("ab") as handle:
        handle.write(b'{"type": "result", "id": "' + first.encode() + b'", "res')  # killed mid-write
    assert journal.entries()[0].pending and journal.damaged_lines == 1
    journal.write_result(first, "applied")
    assert journal.entries()[0].applied
    assert journal.damaged_lines == 1


def test_entries_since_a_time(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    intent(journal, time=T0, id="old")
    intent(journal, time=T0 + timedelta(hours=2), id="new")
    assert [e.change["id"] for e in journal.entries(since=T0 + timedelta(hours=1))] == ["new"]
    assert len(journal.entries()) == 2


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"

    def writer(n: int) -> None:
        journal = Journal(path)  # one journal object per writer, as two processes would have
        for i in range(40):
            intent(journal, reason=f"writer {n} record {i} " + "x" * 300)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 240
    assert all(json.loads(line)["type"] == "intent" for line in lines)


def test_secrets_are_redacted_before_they_reach_the_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl", secrets=lambda: ["s3cr3t-Pa55word"])
    intent(
        journal,
        reason="pasted: password=hunter2 and s3cr3t-Pa55word, key AKIAIOSFODNN7EXAMPLE",
        params={"password": "whatever", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG"},
    )
    text = journal.path.read_text()
    for secret in ("hunter2", "s3cr3t-Pa55word", "AKIAIOSFODNN7EXAMPLE", "whatever", "wJalrXUtnFEMI/K7MDENG"):
        assert secret not in text
    assert text.count(REDACTED) == 5
    assert scrub({"note": "token: abc123", "n": 3}) == {"note": f"token: {REDACTED}", "n": 3}
    assert scrub("load test", ["te"]) == "load test"  # too short to be a secret: ordinary words survive


def test_the_default_path_is_the_users_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    assert default_journal_path(handoff_settings()) == tmp_path / "xdg-state" / "goodword-tui" / "journal.jsonl"

    def relative(config: dict[str, Any]) -> None:
        config.setdefault("platform", {})["journal_path"] = "audit/journal.jsonl"

    settings = handoff_settings(relative).model_copy(update={"source_path": str(tmp_path / "etc" / "config.toml")})
    assert default_journal_path(settings) == tmp_path / "etc" / "audit" / "journal.jsonl"
