"""Changes: every modification of the platform as a reviewed, guarded, journaled object (DESIGN.md).

- `base`: `Change`, `Batch`, planning (`plan`, `change_from_fix`, `plan_batch`), previews and effects;
- `inputs`: validation of everything typed; `guards`: lockout, reach, the override phrase;
- `snowflake` / `aws`: the actions of each system;
- `apply`: `ChangeContext`, `apply_change`, `apply_batch`, `reconcile_pending`, `plan_undo`.
"""
