"""A process killed between the journal's intent and its result is found at the next start and reconciled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from goodword_tui.changes.apply import ChangeContext, reconcile_pending
from goodword_tui.changes.base import change_from_fix, ops_for, plan
from goodword_tui.journal import Journal, Operator
from goodword_tui.sandbox.scenarios import MISSING_AIRBYTE_IP
from tests.changes.conftest import Scene

Contexts = Callable[..., ChangeContext]
REPO = Path(__file__).resolve().parents[2]


def allowed_ips(scene: Scene) -> list[str]:
    rows = dict(scene.platform.sql("DESC NETWORK POLICY INTEGRATIONS"))
    return [v for v in str(rows.get("ALLOWED_IP_LIST", "")).split(",") if v]


def test_intents_without_results_are_reconciled_by_re_reading(scene: Callable[..., Scene], contexts: Contexts) -> None:
    s = scene("airbyte-ip-missing", aws=False)
    sent = change_from_fix(s.finding("SF_ENTRY_MISSING").fix, s.snapshot, s.settings)  # type: ignore[arg-type]
    never_sent = plan("add_allowed_ip", {"cidr": "198.51.100.44", "label": "Vendor"}, sent.state_after, s.settings)
    ctx = contexts(s.settings)
    operator = Operator("oncall")
    for change in (sent, never_sent):
        ctx.journal.write_intent(
            change=change.to_json(),
            before=change.before.to_json(),
            after=change.after.to_json(),
            operator=operator,
            mode="write",
            reason="INC-4711",
        )
    ops_for(sent.system).send(ctx, sent.request)  # ... and the process dies before recording either result
    assert MISSING_AIRBYTE_IP in allowed_ips(s)

    restarted = contexts(s.settings)  # the next start: a new process reading the same journal
    assert [e.change["id"] for e in restarted.journal.pending()] == [sent.id, never_sent.id]
    outcomes = reconcile_pending(restarted)
    assert [(o.entry.change["id"], o.result) for o in outcomes] == [
        (sent.id, "applied"),
        (never_sent.id, "not_applied"),
    ]
    assert restarted.journal.pending() == []
    entries = {e.change["id"]: e for e in restarted.journal.entries()}
    assert entries[sent.id].reconciled and entries[sent.id].applied
    assert entries[never_sent.id].result == "not_applied" and "did not take" in entries[never_sent.id].error
    assert reconcile_pending(restarted) == []  # nothing left to do


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from goodword_tui.changes.apply import ChangeContext
    from goodword_tui.changes.base import ops_for, plan
    from goodword_tui.config import load_settings
    from goodword_tui.journal import Operator
    from goodword_tui.sources.snowflake import read_state

    settings = load_settings(sys.argv[1])
    platform = settings.platform.model_copy(update={"journal_path": sys.argv[2]})
    settings = settings.model_copy(update={"platform": platform})
    ctx = ChangeContext(settings)
    params = {"cidr": sys.argv[3], "label": "Airbyte Cloud US"}
    change = plan("add_allowed_ip", params, read_state(ctx.gateway), settings)
    ctx.journal.write_intent(
        change=change.to_json(), before=change.before.to_json(), after=change.after.to_json(),
        operator=Operator("oncall"), mode="write", reason="INC-4711",
    )
    ops_for(change.system).send(ctx, change.request)
    os.kill(os.getpid(), signal.SIGKILL)  # killed after sending, before the result is written
    """
)


def test_a_process_killed_after_sending_is_reconciled_at_the_next_start(
    scene: Callable[..., Scene], contexts: Contexts, tmp_path: Path
) -> None:
    s = scene("airbyte-ip-missing", aws=False)
    journal_path = tmp_path / "journal.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(s.platform.config_path), str(journal_path), MISSING_AIRBYTE_IP],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    lines = [json.loads(line) for line in journal_path.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["intent"]  # fsync'd before the kill; no result
    assert oct(journal_path.stat().st_mode & 0o777) == "0o600"
    assert MISSING_AIRBYTE_IP in allowed_ips(s)

    ctx = contexts(s.settings)
    assert ctx.journal.path == journal_path
    (outcome,) = reconcile_pending(ctx)
    assert outcome.result == "applied" and outcome.verification is not None and outcome.verification.ok
    assert Journal(journal_path).pending() == []
