"""Regenerate the seed CSVs that stand in for the raw tables locally.

Deterministic (fixed random seed), so the committed CSVs can be rebuilt byte for byte:

    python sqlmesh_project/scripts/generate_seeds.py

The data is a snapshot of the raw layer as of 2025-10-06 00:30 UTC, five full weeks of a small product:
Goodword app users sign up (2025-09-01 .. 2025-10-05), use the app (sessions, queries, dashboards) and some start
a trial that converts or is cancelled. It carries the mess the staging models exist for: Airbyte re-syncs the same
event (duplicate ``EVENT_ID`` rows), users are re-extracted when their plan changes (several rows per ``ID``),
e-mail addresses come in mixed case, and billing rows are re-loaded on every status change.
"""

from __future__ import annotations

import csv
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
FIRST_DAY = datetime(2025, 9, 1)
DAYS = 35  # 2025-09-01 .. 2025-10-05
SNAPSHOT_AT = datetime(2025, 10, 6, 0, 30)  # nothing extracted or loaded after this exists yet

SOURCES = [("organic", 0.40), ("referral", 0.20), ("paid_search", 0.25), ("partner", 0.15)]
ENGAGEMENT = {"organic": 0.55, "referral": 0.70, "paid_search": 0.40, "partner": 0.50}
COUNTRIES = [("US", 0.45), ("GB", 0.12), ("DE", 0.12), ("IN", 0.10), ("CA", 0.08), ("BR", 0.07), ("FR", 0.06)]
FIRST_NAMES = [
    "ada",
    "alan",
    "grace",
    "linus",
    "barbara",
    "ken",
    "edsger",
    "margaret",
    "dennis",
    "frances",
    "john",
    "radia",
    "tim",
    "sophie",
    "guido",
]
DOMAINS = ["acme.io", "northwind.com", "globex.dev", "initech.co", "umbrella.org", "hooli.xyz", "stark.ai"]


def weighted(rng: random.Random, pairs: list[tuple[str, float]]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[weight for _, weight in pairs])[0]


def airbyte_sync_after(moment: datetime) -> datetime:
    """Airbyte syncs hourly at HH:10; a row is extracted by the first sync after it changed."""
    sync = moment.replace(minute=10, second=0, microsecond=0)
    return sync if sync > moment else sync + timedelta(hours=1)


def billing_load_after(moment: datetime) -> datetime:
    """The billing export is loaded into GOODWORD_WH.RAW daily at 02:00."""
    load = moment.replace(hour=2, minute=0, second=0, microsecond=0)
    return load if load > moment else load + timedelta(days=1)


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def tstz(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00:00")


@dataclass
class User:
    id: int
    email: str
    source: str
    country: str
    created_at: datetime
    engaged: bool


def airbyte_columns(rng: random.Random, extracted_at: datetime) -> dict[str, str]:
    sync_id = int((extracted_at - FIRST_DAY).total_seconds() // 3600) + 40_000
    return {
        "_AIRBYTE_RAW_ID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "_AIRBYTE_EXTRACTED_AT": tstz(extracted_at),
        "_AIRBYTE_META": json.dumps({"changes": [], "sync_id": sync_id}, separators=(",", ":")),
    }


def main() -> None:
    rng = random.Random(20251005)
    users: list[User] = []
    user_rows: list[dict[str, object]] = []
    event_rows: list[dict[str, object]] = []
    subscription_rows: list[dict[str, object]] = []

    for index in range(110):
        day = min(int(rng.triangular(0, DAYS, DAYS * 0.7)), DAYS - 1)  # signups grow over time
        created_at = FIRST_DAY + timedelta(days=day, seconds=rng.randint(7 * 3600, 22 * 3600))
        name = rng.choice(FIRST_NAMES)
        email = f"{name}.{1001 + index}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.15:
            email = email.capitalize() if rng.random() < 0.5 else email.upper()
        source = weighted(rng, SOURCES)
        users.append(
            User(1001 + index, email, source, weighted(rng, COUNTRIES), created_at, rng.random() < ENGAGEMENT[source])
        )

    subscription_number = 0
    for user in users:
        plan, updated_at = "free", user.created_at
        base = {"ID": user.id, "EMAIL": user.email, "SIGNUP_SOURCE": user.source, "COUNTRY": user.country}
        base["CREATED_AT"] = ts(user.created_at)
        user_rows.append(
            {**base, "PLAN": plan, "UPDATED_AT": ts(updated_at), **airbyte_columns(rng, airbyte_sync_after(updated_at))}
        )

        # Activity: the signup session, then days of use that fade week over week.
        events: list[tuple[datetime, str, dict[str, object]]] = [
            (user.created_at + timedelta(minutes=rng.randint(1, 20)), "session_started", {"client": "web"})
        ]
        first_query_day = rng.choice([0, 0, 0, 1, 1, 2, 3, 5, 8, 12]) if user.engaged else None
        activity = rng.uniform(0.25, 0.55) if user.engaged else 0.06
        signup_day = (user.created_at - FIRST_DAY).days
        for day in range(signup_day, DAYS):
            offset = day - signup_day
            start = FIRST_DAY + timedelta(days=day, hours=8)
            if offset == 0:
                start = events[0][0]
            elif rng.random() < activity * (0.8 ** (offset // 7)):
                start = start + timedelta(seconds=rng.randint(0, 13 * 3600))
                events.append((start, "session_started", {"client": rng.choice(["web", "web", "cli"])}))
            else:
                continue
            moment = start
            if first_query_day is not None and offset >= first_query_day:
                for _ in range(rng.randint(1, 3)):
                    moment += timedelta(seconds=rng.randint(30, 900))
                    events.append(
                        (moment, "query_run", {"duration_ms": rng.randint(40, 9000), "rows": rng.randint(0, 5000)})
                    )
                for _ in range(rng.randint(0, 2)):
                    moment += timedelta(seconds=rng.randint(30, 600))
                    events.append((moment, "dashboard_viewed", {"dashboard_id": f"d_{rng.randint(1, 40)}"}))
                if offset == first_query_day and rng.random() < 0.5:
                    moment += timedelta(seconds=rng.randint(60, 600))
                    events.append(
                        (moment, "connector_created", {"connector": rng.choice(["postgres", "s3", "hubspot"])})
                    )
                if rng.random() < 0.1:
                    moment += timedelta(seconds=rng.randint(60, 600))
                    events.append((moment, "report_exported", {"format": rng.choice(["csv", "pdf"])}))

        cutoff = FIRST_DAY + timedelta(days=DAYS)
        for occurred_at, event_type, properties in sorted(events, key=lambda item: item[0]):
            if occurred_at >= cutoff:
                continue
            row = {
                "EVENT_ID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "USER_ID": user.id,
                "EVENT_TYPE": event_type,
                "OCCURRED_AT": ts(occurred_at),
                "PROPERTIES": json.dumps(properties, separators=(",", ":")),
            }
            extracted_at = airbyte_sync_after(occurred_at)
            event_rows.append({**row, **airbyte_columns(rng, extracted_at)})
            if rng.random() < 0.05:  # an Airbyte re-sync lands the same event again later
                again = extracted_at + timedelta(hours=rng.randint(1, 20))
                if again <= SNAPSHOT_AT:
                    event_rows.append({**row, **airbyte_columns(rng, again)})

        # Some engaged users start a trial; it converts or is cancelled after 14 days.
        if user.engaged and rng.random() < 0.6:
            started_at = user.created_at + timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 8))
            if started_at >= cutoff:
                continue
            subscription_number += 1
            plan = "team" if rng.random() < 0.3 else "pro"
            trial_ends_at = started_at + timedelta(days=14)
            base_sub = {
                "SUBSCRIPTION_ID": f"sub_{subscription_number:04d}",
                "USER_ID": user.id,
                "PLAN": plan,
                "STARTED_AT": ts(started_at),
                "TRIAL_ENDS_AT": ts(trial_ends_at),
            }
            changes = [(started_at, "trialing", "0.00", "")]
            if rng.random() < 0.7:
                changes.append((trial_ends_at, "active", "49.00" if plan == "pro" else "199.00", ""))
            else:
                cancel_at = trial_ends_at - timedelta(hours=rng.randint(1, 72))
                changes.append((cancel_at, "canceled", "0.00", ts(cancel_at)))
            for changed_at, status, mrr, canceled_at in changes:
                loaded_at = billing_load_after(changed_at)
                if loaded_at > SNAPSHOT_AT:
                    break
                subscription_rows.append(
                    {
                        **base_sub,
                        "STATUS": status,
                        "MRR_USD": mrr,
                        "CANCELED_AT": canceled_at,
                        "_LOADED_AT": tstz(loaded_at),
                    }
                )
            # The app mirrors the plan once the trial starts: a second extraction of the user row.
            user_update = started_at + timedelta(minutes=1)
            if airbyte_sync_after(user_update) <= SNAPSHOT_AT:
                user_rows.append(
                    {
                        **base,
                        "PLAN": plan,
                        "UPDATED_AT": ts(user_update),
                        **airbyte_columns(rng, airbyte_sync_after(user_update)),
                    }
                )

    event_rows.sort(key=lambda row: (str(row["_AIRBYTE_EXTRACTED_AT"]), str(row["OCCURRED_AT"])))
    user_rows.sort(key=lambda row: (str(row["_AIRBYTE_EXTRACTED_AT"]), int(str(row["ID"]))))
    subscription_rows.sort(key=lambda row: (str(row["_LOADED_AT"]), str(row["SUBSCRIPTION_ID"])))
    write("airbyte_app_users.csv", user_rows)
    write("airbyte_app_events.csv", event_rows)
    write("goodword_subscriptions.csv", subscription_rows)
    print(f"users: {len(user_rows)} rows, events: {len(event_rows)} rows, subscriptions: {len(subscription_rows)} rows")


def write(name: str, rows: list[dict[str, object]]) -> None:
    with open(SEEDS_DIR / name, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
