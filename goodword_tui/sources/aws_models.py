"""The read side's AWS service models: botocore's own, cut down to the operations the AWS source calls.

botocore's ec2 model describes some 830 operations; the source calls nine. Made from the whole model, the
reading clients cost the reader process 16 MB more and 0.27 s instead of 0.2 s of GIL-holding work at every
start, on the way to the first data (measured once, on a slow machine). The cut-down model keeps those
operations and every shape they reach, so requests and parsed answers are botocore's exactly. It is made once
per botocore version from botocore's own model, kept in the user's cache directory (owner-only), and found
there through botocore's model search path. A client made from it has no write operation to call at all (the
read-only guard stays, below it). If the copy cannot be made or trusted, the full model is used: slower, never
wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("goodword_tui.sources.aws_models")

MODEL_TYPE = "service-2"
Wanted = tuple[tuple[str, tuple[str, ...]], ...]  # (service, its operations), sorted

_lock = threading.Lock()
_loaders: dict[tuple[str, Wanted], Any] = {}


def cache_root() -> Path:
    """Beside our SQLMesh caches, in the user's cache directory."""
    import platformdirs

    return platformdirs.user_cache_path("goodword-tui") / "botocore-models"


def reachable_shapes(model: Mapping[str, Any], operations: Iterable[str]) -> set[str]:
    """Every shape the operations' inputs, outputs and errors name, followed through members, lists and maps."""
    shapes = model["shapes"]
    found: set[str] = set()
    todo: list[str] = []
    for name in operations:
        operation = model["operations"][name]
        todo += [operation[part]["shape"] for part in ("input", "output") if part in operation]
        todo += [error["shape"] for error in operation.get("errors", ())]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        shape = shapes[name]
        todo += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
        todo += [member["shape"] for member in shape.get("members", {}).values()]
    return found


def cut_down(model: Mapping[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """`model` with only `operations` and the shapes they reach; documentation (used for docstrings) left out."""
    wanted = set(operations)
    missing = wanted - set(model["operations"])
    if missing:
        raise KeyError(f"not in botocore's model: {', '.join(sorted(missing))}")
    keep = reachable_shapes(model, wanted)
    return {
        **{key: value for key, value in model.items() if key not in ("operations", "shapes", "documentation")},
        "operations": {name: _undocumented(op) for name, op in model["operations"].items() if name in wanted},
        "shapes": {name: _undocumented(shape) for name, shape in model["shapes"].items() if name in keep},
    }


def _undocumented(definition: Mapping[str, Any]) -> dict[str, Any]:
    """An operation or shape without its documentation, nor its members' (only their definitions are touched:
    a member could be called anything)."""
    found = {key: value for key, value in definition.items() if key not in ("documentation", "documentationUrl")}
    if "members" in found:
        found["members"] = {
            name: {key: value for key, value in member.items() if key != "documentation"}
            for name, member in found["members"].items()
        }
    return found


def read_loader(operations: Mapping[str, Iterable[str]], root: Path | None = None) -> Any:
    """A botocore loader that finds the cut-down models for `operations` (service -> operation names) before
    botocore's own; one per process and set of operations, since a loader caches what it has loaded."""
    import botocore.loaders

    wanted: Wanted = tuple(sorted((service, tuple(sorted(set(names)))) for service, names in operations.items()))
    folder_root = root or cache_root()
    with _lock:
        loader = _loaders.get((str(folder_root), wanted))
        if loader is None:
            full = botocore.loaders.Loader()
            folder = models_folder(full, wanted, folder_root)
            loader = botocore.loaders.Loader(extra_search_paths=[str(folder)]) if folder is not None else full
            _loaders[(str(folder_root), wanted)] = loader
        return loader


def models_folder(full: Any, wanted: Wanted, root: Path) -> Path | None:
    """The folder holding the cut-down models (made or remade if missing, broken or not ours); None if it cannot
    be made, and then botocore's full models are used."""
    import botocore

    folder = root / hashlib.sha256(repr((botocore.__version__, wanted)).encode()).hexdigest()[:16]
    try:
        for service, names in wanted:
            version = full.determine_latest_version(service, MODEL_TYPE)
            path = folder / service / version / f"{MODEL_TYPE}.json"
            if not _usable(path, names):
                _write(path, cut_down(full.load_service_model(service, MODEL_TYPE, version), names))
    except Exception as exc:  # any failure here only costs the full model's load
        log.warning("reading AWS with botocore's full service models: no cut-down copy (%s)", exc)
        return None
    return folder


def _usable(path: Path, names: tuple[str, ...]) -> bool:
    """Ours (owned by us, writable by no one else) and whole (parses, holds exactly the operations)."""
    try:
        found = path.stat()
        if found.st_uid != os.geteuid() or found.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
        return sorted(json.loads(path.read_bytes())["operations"]) == list(names)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write(path: Path, model: Mapping[str, Any]) -> None:
    from goodword_tui.logs import owner_only

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(partial, "w", encoding="utf-8", opener=owner_only) as out:
            json.dump(model, out, separators=(",", ":"))
        os.replace(partial, path)  # a reader never sees half a model; of two writers, one whole model stays
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
