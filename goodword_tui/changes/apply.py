"""Applying a Change: guards, journal intent, send, verify by re-reading, journal result, upload.

`apply_change` is the one way a change reaches a platform. In order, before anything is sent:

1. the reason is validated (required, journaled);
2. read-only mode refuses (and below this, the botocore hook and the Snowflake gateway's gate refuse too);
3. a dangerous change needs its typed `confirm_phrase`;
4. the target is re-read: if it differs from the preview's `before`, the change is aborted with the diff and
   the same intent re-planned on the new state (`rebuilt`), so a concurrent edit is never overwritten;
5. the lockout guard is re-run on the fresh state (the operator's address as Snowflake sees it now):
   refused unless `lockout_override == LOCKOUT_OVERRIDE_PHRASE`.

Between 4 and 5, the change's effect is judged on that fresh read: when it is already there (someone else
made the change), nothing is sent and the change is journaled `already_done`.

Then the intent is journaled (fsync), the request sent **once** (botocore and the Snowflake connector are told
not to retry it; only a request AWS refused for its rate, unprocessed, is sent again after a backoff), the
effect checked by re-reading (polling briefly, AWS is eventually consistent), the
result journaled, and the journal uploaded to S3 when configured.

A request that fails in a way that leaves its outcome open (`outcome_unknown`: a read timeout, a connection
reset after sending, a 5xx) may have been applied: it is journaled `unknown` at once, then settled by
re-reading the target until `verify_timeout_s` (the request may still land late): the effect there means
`applied`, absent means `failed`. It is never re-sent. When the re-read fails too, it stays `unknown` and
`reconcile_pending` settles it at the next start.

Everything is blocking: run it in a worker thread. Nothing here raises for a platform's answer; the outcome,
with a one-line message free of secrets, is in the `ApplyResult`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import getpass
import logging
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from goodword_tui.changes.base import (
    Batch,
    Change,
    DiffLine,
    Effect,
    Intent,
    System,
    TargetView,
    Verification,
    diff_lines,
    ops_for,
    plan,
    system_of,
)
from goodword_tui.changes.guards import LOCKOUT_OVERRIDE_PHRASE, LockoutReport
from goodword_tui.changes.inputs import InputError, validate_reason
from goodword_tui.config import Settings
from goodword_tui.journal import (
    ALREADY_DONE,
    APPLIED,
    FAILED,
    NOT_APPLIED,
    UNKNOWN,
    VERIFY_FAILED,
    Journal,
    JournalEntry,
    Operator,
    known_secrets,
    scrub,
)
from goodword_tui.model import SnowflakeState

if TYPE_CHECKING:
    import boto3
    from botocore.client import BaseClient

    from goodword_tui.sources.snowflake import SnowflakeGateway

JOURNAL_KEY_PREFIX = "goodword-tui/journal"


# --------------------------------------------------------------------------------------------------------------
# The context: clients, journal, mode


class ChangeContext:
    """The clients changes go through (one Snowflake gateway, one boto3 session), the journal, and the mode.

    In read-only mode the gateway is read-only and the session carries the read-only botocore hook before any
    client is made from it. Close it when done (`close()` or `with`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        read_only: bool | None = None,
        gateway: SnowflakeGateway | None = None,
        session: boto3.Session | None = None,
        journal: Journal | None = None,
        verify_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.read_only = settings.read_only if read_only is None else read_only
        if gateway is not None and self.read_only and not gateway.read_only:
            raise ValueError("a read-only ChangeContext needs a read-only Snowflake gateway")
        self._gateway = gateway
        self._owns_gateway = gateway is None
        self._session = session
        if session is not None and self.read_only:
            from goodword_tui.sources.aws import install_read_only_guard

            install_read_only_guard(session)
        self._clients: dict[str, BaseClient] = {}
        self._write_clients: dict[str, BaseClient] = {}
        self._lock = threading.RLock()
        self._secrets: list[str] | None = None
        self._secrets_key: tuple[bool, bool] = (False, False)
        self._aws_arn: str | None = None
        self.verify_timeout_s = verify_timeout_s
        self.journal = journal if journal is not None else Journal.for_settings(settings)
        self.journal.add_secrets(self.secrets)

    @property
    def mode(self) -> str:
        return "read-only" if self.read_only else "write"

    @property
    def gateway(self) -> SnowflakeGateway:
        with self._lock:
            if self._gateway is None:
                from goodword_tui.sources.snowflake import SnowflakeGateway

                self._gateway = SnowflakeGateway(self.settings, read_only=self.read_only)
            return self._gateway

    @property
    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                from goodword_tui.sources.aws import install_read_only_guard, make_session

                session = make_session(self.settings)
                if self.read_only:
                    install_read_only_guard(session)  # before any client is made from it
                self._session = session
            return self._session

    def client(self, service: str) -> BaseClient:
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                from goodword_tui.sources.aws import make_client

                found = make_client(self.session, service, self.settings)
                self._clients[service] = found
            return found

    def write_client(self, service: str) -> BaseClient:
        """The client changes are sent with: each request sent once, never retried by botocore (a write that
        timed out may have been applied; it is settled by re-reading, see the module docstring)."""
        with self._lock:
            found = self._write_clients.get(service)
            if found is None:
                from goodword_tui.sources.aws import make_client

                found = make_client(self.session, service, self.settings, single_attempt=True)
                self._write_clients[service] = found
            return found

    def close(self) -> None:
        with self._lock:
            for client in [*self._clients.values(), *self._write_clients.values()]:
                client.close()
            self._clients.clear()
            self._write_clients.clear()
            if self._gateway is not None and self._owns_gateway:
                self._gateway.close()
                self._gateway = None

    def __enter__(self) -> ChangeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- who, and what must never be written down

    def aws_arn(self, *, fetch: bool = True) -> str:
        """The caller's ARN (GetCallerIdentity: a read, allowed in read-only mode); "" when it is not known.

        Asked once per context and only with `fetch` (for AWS changes, which talk to AWS anyway): a Snowflake
        fix must not wait on an unreachable AWS just to write a name in the journal.
        """
        with self._lock:
            if self._aws_arn is None and fetch:
                try:
                    self._aws_arn = str(self.client("sts").get_caller_identity().get("Arn", ""))
                except Exception:  # who we are is a courtesy in the journal, never a reason to fail
                    return ""
            return self._aws_arn or ""

    def operator(self, system: System, state: Any = None) -> Operator:
        """Who is changing things. Snowflake's user and role come from the fresh read just made."""
        try:
            os_user = getpass.getuser()
        except (KeyError, OSError):
            os_user = str(os.getuid())
        user = role = ""
        if isinstance(state, SnowflakeState):
            user, role = state.user, state.role
        arn = self.aws_arn(fetch=system is System.AWS)
        return Operator(os_user, arn, user, role, socket.gethostname())

    def secrets(self) -> list[str]:
        """The values that must never be journaled: AWS keys of the session, the Snowflake connection's secrets."""
        with self._lock:
            overrides = self._gateway.connect_overrides if self._gateway is not None else None
            key = (self._session is not None, overrides is not None)
            if self._secrets is None or self._secrets_key != key:
                self._secrets = known_secrets(self.settings, session=self._session, overrides=overrides)
                self._secrets_key = key
            return list(self._secrets)

    def safe(self, text: str) -> str:
        """A message with every known secret redacted, on one line."""
        cleaned = scrub(text, self.secrets())
        return " ".join(str(cleaned).split())


def describe_failure(exc: BaseException) -> str:
    """One line for a failed read or send: the service's error code and message, never a traceback."""
    from goodword_tui.sources.aws import ReadOnlyRefused
    from goodword_tui.sources.snowflake import WriteRefused, one_line

    if isinstance(exc, ReadOnlyRefused | WriteRefused | InputError):
        return str(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and "Error" in response:
        error = response.get("Error") or {}
        return one_line(f"AWS {error.get('Code', 'error')}: {error.get('Message', '')}".strip())
    errno = getattr(exc, "errno", None)
    prefix = f"Snowflake {errno}: " if isinstance(errno, int) else f"{type(exc).__name__}: "
    return one_line(prefix + str(exc))


# The connector's own codes for a request that got no usable answer (it may have reached the server):
# 250003 failed to request, 251011 connection timeout, 290000-299999 an HTTP error status.
_SNOWFLAKE_NO_ANSWER = (250003, 251011)
_SNOWFLAKE_HTTP_ERRORS = range(290000, 300000)
_SERVER_ERROR_STATUS = 500
THROTTLE_BACKOFF_CAP_S = 8.0
log = logging.getLogger(__name__)


def outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed send may still have been applied: the request may have reached the server and no
    answer came back (a read timeout, a connection reset or closed after sending, a 5xx).

    False when the server answered with a refusal (an AWS 4xx error code, a Snowflake SQL error) or the request
    never left (connecting failed, a guard refused): then the effect is known to be absent.
    """
    if isinstance(exc, TimeoutError | ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return True
    if "botocore" in sys.modules:
        from botocore.exceptions import ClientError, HTTPClientError

        if isinstance(exc, HTTPClientError):  # ReadTimeoutError, ConnectionClosedError ...
            return True
        if isinstance(exc, ClientError):
            if throttled(exc):  # refused for its rate (EC2 answers 503): AWS did not process it
                return False
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
            return int(status) >= _SERVER_ERROR_STATUS
    errno = getattr(exc, "errno", None)
    if "snowflake.connector" in sys.modules and isinstance(errno, int):
        from snowflake.connector.errors import Error as SnowflakeError

        if isinstance(exc, SnowflakeError):
            return errno in _SNOWFLAKE_NO_ANSWER or errno in _SNOWFLAKE_HTTP_ERRORS
    return False


def throttled(exc: BaseException) -> bool:
    """AWS refused the request for its rate (`RequestLimitExceeded`, `Throttling`...): it was not processed, so
    sending it again cannot apply it twice."""
    from goodword_tui.sources.aws import is_throttling

    return is_throttling(exc)


def _send(ops: Any, ctx: ChangeContext, change: Change) -> tuple[int, Exception | None]:
    """Send the request; a throttled one again after a backoff (1, 2, 4 s... up to `aws.max_attempts` in all),
    as botocore would for a read. Nothing else is re-sent. Returns how many times AWS throttled it and the last
    attempt's error (None: sent)."""
    attempts = max(1, ctx.settings.aws.max_attempts)
    throttles = 0
    while True:
        try:
            ops.send(ctx, change.request)
            return throttles, None
        except Exception as exc:
            if not throttled(exc):
                return throttles, exc
            throttles += 1
            if throttles >= attempts:
                return throttles, exc
            log.warning("%s was throttled (attempt %d of %d); sending it again", change.kind, throttles, attempts)
            time.sleep(min(2.0 ** (throttles - 1), THROTTLE_BACKOFF_CAP_S) * random.uniform(0.8, 1.0))


# --------------------------------------------------------------------------------------------------------------
# Results


class ApplyStatus(enum.StrEnum):
    APPLIED = "applied"  # sent, and the re-read shows the effect
    ALREADY_DONE = "already_done"  # the effect was there before sending; nothing was sent
    VERIFY_FAILED = "verify_failed"  # sent without error, but the re-read does not show the effect
    FAILED = "failed"  # the request failed (or the target could not be read); the effect is absent
    UNKNOWN = "unknown"  # sent, but whether it took could not be read yet; settled at the next start
    REFUSED = "refused"  # a guard refused it before anything was sent
    CONFLICT = "conflict"  # the target changed since the preview; nothing was sent


@dataclass(frozen=True)
class UploadResult:
    uploaded: bool
    uri: str = ""
    message: str = ""


@dataclass(frozen=True)
class ApplyResult:
    """What happened to one change: the status, a one-line message, and the evidence."""

    status: ApplyStatus
    change: Change
    message: str
    refused_by: str = ""  # reason | read_only | confirmation | lockout
    entry_id: str = ""  # the journal entry (when something was sent)
    before: TargetView | None = None  # the target re-read right before sending
    verification: Verification | None = None
    conflict: tuple[DiffLine, ...] = ()  # the preview's `before` → the target now
    current: TargetView | None = None  # the target now (CONFLICT)
    rebuilt: Change | None = None  # the same intent planned on the target now, for a new preview
    lockout: LockoutReport | None = None
    upload: UploadResult | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        """The change's effect holds: applied now, or found already done."""
        return self.status in (ApplyStatus.APPLIED, ApplyStatus.ALREADY_DONE)


def _refused(change: Change, by: str, message: str, **extra: Any) -> ApplyResult:
    return ApplyResult(ApplyStatus.REFUSED, change, message, refused_by=by, **extra)


# --------------------------------------------------------------------------------------------------------------
# Applying


def verify_change(change: Change, ctx: ChangeContext) -> Verification:
    """Re-read the target once and check the change's effect is there."""
    return check_effect(ctx, change.effect)


def check_effect(ctx: ChangeContext, effect: Effect) -> Verification:
    return ops_for(System(effect.system)).check_effect(ctx, effect)


def _effect_already_there(ops: Any, ctx: ChangeContext, change: Change, state: Any) -> Verification | None:
    """The change's effect judged on the read made before sending; None when the system cannot judge it there
    (its ops have no `effect_in`, or the read does not cover the effect)."""
    judge = getattr(ops, "effect_in", None)
    if judge is None:
        return None
    verification: Verification | None = judge(ctx, change.effect, state)
    return verification


@dataclass(frozen=True)
class _Reread:
    """The last re-read of an effect: what it showed, or why it could not be read."""

    verification: Verification | None
    error: str = ""


def _reread_until(ctx: ChangeContext, effect: Effect, deadline: float) -> _Reread:
    """Re-read until the effect shows or the deadline passes (a failed read is tried again meanwhile)."""
    delay = 0.2
    while True:
        try:
            last = _Reread(check_effect(ctx, effect))
        except Exception as exc:
            last = _Reread(None, ctx.safe(describe_failure(exc)))
        if (last.verification is not None and last.verification.ok) or time.monotonic() >= deadline:
            return last
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 1.0)


def _observed(verification: Verification | None) -> dict[str, Any] | None:
    return verification.observed.to_json() if verification is not None and verification.observed else None


def apply_change(
    change: Change,
    ctx: ChangeContext,
    *,
    reason: str,
    confirmation: str | None = None,
    lockout_override: str | None = None,
    batch_id: str = "",
) -> ApplyResult:
    """Guard, journal, send, verify, journal, upload; see the module docstring. Blocking."""
    try:
        reason = validate_reason(reason)
    except InputError as exc:
        return _refused(change, "reason", str(exc))
    if ctx.read_only:
        return _refused(change, "read_only", f"read-only mode: nothing was sent ({change.description})")
    if change.dangerous and confirmation != change.confirm_phrase:
        why = "; ".join(change.danger_reasons)
        return _refused(change, "confirmation", f"type {change.confirm_phrase!r} to confirm: {why}")

    ops = ops_for(change.system)
    try:
        state, fresh = ops.read(ctx, change)
        already = _effect_already_there(ops, ctx, change, state)
    except Exception as exc:
        message = ctx.safe(f"could not re-read {change.target} before sending: {describe_failure(exc)}")
        return ApplyResult(ApplyStatus.FAILED, change, message + " (nothing was sent)", error=message)

    def journal_intent(overrides: Mapping[str, Any]) -> str:
        return ctx.journal.write_intent(
            change=change.to_json(),
            before=fresh.to_json(),
            after=change.after.to_json(),
            operator=ctx.operator(change.system, state),
            mode=ctx.mode,
            reason=reason,
            batch_id=batch_id,
            overrides=overrides,
        )

    def unjournaled(exc: OSError) -> ApplyResult:
        # No journal, no change: an unrecorded change is what the journal exists to prevent.
        message = f"could not write the journal {ctx.journal.path} ({exc.strerror or exc}); nothing was sent"
        return ApplyResult(ApplyStatus.FAILED, change, message, before=fresh, error=message)

    if already is not None and already.ok:
        try:
            entry_id = journal_intent({"confirmed": False, "lockout_overridden": False})
            ctx.journal.write_result(
                entry_id, ALREADY_DONE, observed=_observed(already), verification=already.to_json()
            )
        except OSError as exc:
            return unjournaled(exc)
        message = f"already done, nothing was sent: {already.detail}"
        return ApplyResult(
            ApplyStatus.ALREADY_DONE,
            change,
            ctx.safe(message),
            entry_id=entry_id,
            before=fresh,
            verification=already,
            upload=upload_journal(ctx),
        )

    if not fresh.same_as(change.before):
        rebuilt: Change | None = None
        note = ""
        try:
            rebuilt = change.replan(state)
        except InputError as exc:
            note = f"; planned again on the new state it does not apply: {exc.message}"
        message = f"{change.target} changed since the preview (someone else edited it); nothing was sent{note}"
        return ApplyResult(
            ApplyStatus.CONFLICT,
            change,
            message,
            before=fresh,
            conflict=diff_lines(change.before.lines, fresh.lines),
            current=fresh,
            rebuilt=rebuilt,
        )

    lockout = change.lockout
    if change.lockout is not None:
        try:
            lockout = change.replan(state).lockout  # judged again with the address Snowflake sees now
        except InputError:
            lockout = change.lockout
    if lockout is not None and lockout.locks_out and lockout_override != LOCKOUT_OVERRIDE_PHRASE:
        return _refused(
            change,
            "lockout",
            f"refused: {lockout.explain()} (type {LOCKOUT_OVERRIDE_PHRASE!r} to override)",
            before=fresh,
            lockout=lockout,
        )

    try:
        entry_id = journal_intent(
            {"confirmed": bool(change.dangerous), "lockout_overridden": bool(lockout is not None and lockout.locks_out)}
        )
    except OSError as exc:
        return unjournaled(exc)
    settled = _send_and_settle(ops, ctx, change, entry_id)
    verification, message = settled.reread.verification, settled.message
    try:
        ctx.journal.write_result(
            entry_id,
            settled.result,
            observed=_observed(verification),
            verification=verification.to_json() if verification else None,
            error="; ".join(e for e in (settled.send_error, settled.reread.error) if e),
        )
    except OSError as exc:  # the intent is there: the next start reconciles it by re-reading
        message += f" (the result could not be journaled: {exc.strerror or exc}; it is reconciled at next start)"
    return ApplyResult(
        settled.status,
        change,
        ctx.safe(message),
        entry_id=entry_id,
        before=fresh,
        verification=verification,
        lockout=lockout,
        upload=upload_journal(ctx),
        error=settled.send_error,
    )


@dataclass(frozen=True)
class _Settled:
    """What sending and re-reading found: the status, its journal word, the message and the evidence."""

    status: ApplyStatus
    result: str
    message: str
    reread: _Reread
    send_error: str = ""


def _send_and_settle(ops: Any, ctx: ChangeContext, change: Change, entry_id: str) -> _Settled:
    """Send the request once (again only after AWS refused it for its rate), then find out by re-reading
    whether it took.

    An open outcome is journaled `unknown` before the re-reads, so a crash while settling it is found again.
    """
    throttles, error = _send(ops, ctx, change)
    send_error, unknown = "", False
    refused_for_rate = error is not None and throttled(error)
    if error is not None:
        send_error, unknown = ctx.safe(describe_failure(error)), outcome_unknown(error)
    if refused_for_rate:
        send_error += f" (throttled on all {throttles} attempts; a throttled request is not processed)"
    settled = _settle(ctx, change, entry_id, send_error, unknown)
    if throttles and not refused_for_rate:
        note = (
            f" (before that, AWS throttled it {throttles} time(s): a throttled request is not processed, so it was"
            " sent again after a backoff)"
        )
        settled = dataclasses.replace(settled, message=settled.message + note)
    return settled


def _settle(ctx: ChangeContext, change: Change, entry_id: str, send_error: str, unknown: bool) -> _Settled:
    """After the send: journal an open outcome, re-read, and say what happened."""
    if unknown:
        with contextlib.suppress(OSError):  # not journaled: the intent alone makes it found at next start
            ctx.journal.write_result(entry_id, UNKNOWN, error=f"the outcome is unknown: {send_error}")
    # Sent (or perhaps sent): wait for the effect, the platform may be slow to show it (or the request may
    # still land). Refused by the server: one re-read tells what is there.
    wait = ctx.verify_timeout_s if (unknown or not send_error) else 0.0
    reread = _reread_until(ctx, change.effect, time.monotonic() + wait)
    verification = reread.verification
    if verification is not None and verification.ok:
        message = f"applied and verified: {verification.detail}"
        if send_error:
            message += f" (the request reported: {send_error}; the re-read shows it took)"
        return _Settled(ApplyStatus.APPLIED, APPLIED, message, reread, send_error)
    if send_error and not unknown:  # the server refused it (or it never left): the effect is known absent
        return _Settled(ApplyStatus.FAILED, FAILED, f"failed: {send_error}", reread, send_error)
    if verification is None:
        told = f"the request reported: {send_error}" if send_error else "the request was accepted"
        message = (
            f"outcome unknown: {told}, and the re-read failed: {reread.error}. Nothing is re-sent; "
            "the target is re-read at the next start (the journal shows the outcome then)"
        )
        return _Settled(ApplyStatus.UNKNOWN, UNKNOWN, message, reread, send_error)
    if not send_error:
        message = f"sent, but the re-read does not show it: {verification.detail}"
        return _Settled(ApplyStatus.VERIFY_FAILED, VERIFY_FAILED, message, reread)
    message = (
        f"failed: the request reported {send_error}; re-read for {ctx.verify_timeout_s:g} s, it did not take "
        f"({verification.detail}). Nothing was re-sent"
    )
    return _Settled(ApplyStatus.FAILED, FAILED, message, reread, send_error)


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: every result in order, what was applied, where it stopped, what was not tried."""

    batch: Batch
    results: tuple[ApplyResult, ...]
    message: str
    not_applied: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def applied(self) -> tuple[Change, ...]:
        return tuple(r.change for r in self.results if r.ok)

    @property
    def stopped_at(self) -> ApplyResult | None:
        return next((r for r in self.results if not r.ok), None)

    @property
    def ok(self) -> bool:
        return len(self.applied) == len(self.batch.changes)


def apply_batch(
    batch: Batch,
    ctx: ChangeContext,
    *,
    reason: str,
    confirmation: str | None = None,
    lockout_override: str | None = None,
) -> BatchResult:
    """Apply the batch's changes in order; stop at the first that is not applied and say what was and was not.

    A dangerous batch is confirmed once, with `batch.confirm_phrase`; that confirms each dangerous change in it.
    """
    if batch.dangerous and confirmation != batch.confirm_phrase:
        reasons = [f"{c.description}: {'; '.join(c.danger_reasons)}" for c in batch.changes if c.dangerous]
        message = f"type {batch.confirm_phrase!r} to confirm the batch; nothing was applied. " + " | ".join(reasons)
        return BatchResult(batch, (), message, batch.changes)
    results: list[ApplyResult] = []
    for index, change in enumerate(batch.changes):
        result = apply_change(
            change,
            ctx,
            reason=reason,
            confirmation=change.confirm_phrase if change.dangerous else None,
            lockout_override=lockout_override,
            batch_id=batch.id,
        )
        results.append(result)
        if not result.ok:
            rest = batch.changes[index + 1 :]
            done = len(results) - 1
            message = (
                f"stopped at change {index + 1} of {len(batch.changes)} ({change.description}): "
                f"{result.status.value}: {result.message}. Applied: {done}; not applied: {1 + len(rest)}."
            )
            return BatchResult(batch, tuple(results), message, (change, *rest))
    done = sum(1 for r in results if r.status is ApplyStatus.ALREADY_DONE)
    note = f" ({done} found already done, nothing sent for {'it' if done == 1 else 'them'})" if done else ""
    return BatchResult(batch, tuple(results), f"all {len(results)} changes applied and verified{note}")


# --------------------------------------------------------------------------------------------------------------
# After a crash, and undo


@dataclass(frozen=True)
class Reconciled:
    """One unresolved entry found at start (no result, or `unknown`), and what the re-read decided."""

    entry: JournalEntry  # entry.result tells which: pending (a crash) or unknown (a timeout, a reset)
    result: str  # applied | not_applied (the effect is absent) | pending (the re-read failed; left for next time)
    verification: Verification | None = None
    error: str = ""


def reconcile_pending(ctx: ChangeContext) -> list[Reconciled]:
    """Settle every unresolved entry by re-reading its target, and record the outcome (`reconciled`).

    An intent with no result (the process stopped between sending and recording) becomes `applied` or
    `not_applied`; an `unknown` one (the request timed out or its connection was reset) becomes `applied` or
    `failed`. Nothing is re-sent. When the target cannot be read the entry stays as it was for the next start.
    """
    outcomes: list[Reconciled] = []
    for entry in ctx.journal.unresolved():
        try:
            effect = Effect.from_json(entry.change["effect"])
            verification = check_effect(ctx, effect)
        except Exception as exc:
            outcomes.append(Reconciled(entry, "pending", error=ctx.safe(describe_failure(exc))))
            continue
        if verification.ok:
            result, error = APPLIED, ""
        elif entry.pending:
            result, error = (
                NOT_APPLIED,
                "the process stopped before recording a result; the re-read shows it did not take",
            )
        else:
            result, error = FAILED, f"{entry.error}; the re-read shows it did not take".lstrip("; ")
        ctx.journal.write_result(
            entry.id,
            result,
            observed=verification.observed.to_json() if verification.observed else None,
            verification=verification.to_json(),
            error=error,
            reconciled=True,
        )
        outcomes.append(Reconciled(entry, APPLIED if verification.ok else NOT_APPLIED, verification))
    if outcomes and any(o.result != "pending" for o in outcomes):
        upload_journal(ctx)
    return outcomes


_NOTHING_TO_UNDO = {
    ALREADY_DONE: "this change was found already made by someone else and nothing was sent",
    UNKNOWN: "whether this change took is not known yet (it is re-read at the next start)",
}


def plan_undo(entry: JournalEntry, ctx: ChangeContext) -> Change:
    """The inverse of a journaled change, planned on a fresh read of its target: preview and apply it like any.

    InputError when the entry was not applied, has no inverse, or the inverse no longer fits the target.
    """
    if not entry.applied:
        why = _NOTHING_TO_UNDO.get(entry.result, f"this change is {entry.result.replace('_', ' ')}")
        raise InputError("entry", f"{why}: there is nothing to undo")
    inverse = entry.inverse
    if inverse is None:
        why = str(entry.change.get("irreversible_reason") or "it has no inverse")
        raise InputError("entry", f"{entry.description} cannot be undone: {why}")
    intent = Intent(str(inverse.get("action", "")), dict(inverse.get("params") or {}))
    system = system_of(intent.action)
    try:
        state = ops_for(system).read_for(ctx, intent)
    except Exception as exc:
        message = ctx.safe(f"could not read the target to plan the undo: {describe_failure(exc)}")
        raise InputError("entry", message) from None
    change = plan(intent.action, intent.params, state, ctx.settings)
    return dataclasses.replace(change, description=f"Undo ({entry.description}): {change.description}")


# --------------------------------------------------------------------------------------------------------------
# S3


def _key_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "unknown"


def journal_key(ctx: ChangeContext) -> str:
    """One object per host and OS user, so two engineers' journals never overwrite each other."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{JOURNAL_KEY_PREFIX}/{_key_part(socket.gethostname())}/{_key_part(user)}/journal.jsonl"


def upload_journal(ctx: ChangeContext) -> UploadResult | None:
    """Copy the journal to `platform.s3_bucket` (None when none is configured). Never raises."""
    bucket = ctx.settings.platform.s3_bucket
    if not bucket:
        return None
    if ctx.read_only:
        return UploadResult(False, message="read-only mode: the journal was not uploaded (an upload is a write)")
    key = journal_key(ctx)
    try:
        ctx.client("s3").put_object(
            Bucket=bucket, Key=key, Body=ctx.journal.read_bytes(), ContentType="application/x-ndjson"
        )
    except Exception as exc:
        return UploadResult(False, message=ctx.safe(f"the journal was not uploaded: {describe_failure(exc)}"))
    return UploadResult(True, f"s3://{bucket}/{key}")
