"""The log files: owner-only, the current file and every one a rollover starts."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from goodword_tui.logs import OwnerOnlyFileHandler, reader_log_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_log_file_is_the_owners_alone_across_rollovers(tmp_path: Path) -> None:
    path = tmp_path / "goodword-tui.log"
    path.write_text("from an older version\n", encoding="utf-8")
    path.chmod(0o644)
    handler = OwnerOnlyFileHandler(path, maxBytes=200, backupCount=2, encoding="utf-8")
    logger = logging.getLogger("test_logs.rollover")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(20):
            logger.warning("line %d %s", n, "x" * 40)
    finally:
        logger.removeHandler(handler)
        handler.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["goodword-tui.log", "goodword-tui.log.1", "goodword-tui.log.2"]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert "line 19" in path.read_text(encoding="utf-8")


def test_the_reader_logs_beside_the_dashboard_in_a_file_of_its_own() -> None:
    assert reader_log_path(Path("/var/log/gw/goodword-tui.log")) == Path("/var/log/gw/goodword-tui-reader.log")
