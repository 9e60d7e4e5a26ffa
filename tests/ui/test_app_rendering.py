"""What a table draws after tab switches and focus moves: KeyedTable keeps DataTable's rendered lines across both
(a pane shown again is not a new size; CSS re-applied unchanged is not a new look), and must still draw what
changed meanwhile: new values, and the cursor as focused or not."""

from __future__ import annotations

from textual.strip import Strip

from tests.ui import data
from tests.ui.conftest import settled, until
from tests.ui.test_dashboard import make_app, table

RT_2B = data.RT_IDS["goodword-private-rt-2b"]
MISSING_ROUTE = "✗ 172.22.0.0/16 missing"  # what the incident does to rt-2b


def drawn(strips: list[Strip]) -> str:
    return "\n".join(strip.text for strip in strips)


def lines_of(app_table) -> list[Strip]:  # type: ignore[no-untyped-def]
    return [app_table.render_line(y) for y in range(app_table.size.height)]


async def test_values_changed_while_a_tab_was_hidden_are_drawn_when_it_is_shown_again() -> None:
    fetchers = data.handoff_fetchers()
    fetchers["aws"] = data.Scripted(data.ok("aws", data.handoff_aws()), data.ok("aws", data.incident_aws()))
    app = make_app(fetchers, auto_refresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        await pilot.press("2")
        routes = table(app, "route_tables")
        await until(pilot, lambda: routes.size.height > 0, what="route tables shown")
        before = drawn(lines_of(routes))
        assert MISSING_ROUTE not in before
        await pilot.press("3", "2", "3")  # shown, hidden, shown, hidden: the same size every time
        await pilot.press("r")
        await until(pilot, lambda: fetchers["aws"].calls == 2 and not app._busy, what="second read")
        await app.workers.wait_for_complete()
        await pilot.press("2")
        await pilot.pause()
        after = drawn(lines_of(routes))
        assert str(routes.get_row(f"rtb:{RT_2B}")[3]) == MISSING_ROUTE  # read while the tab was hidden
        assert MISSING_ROUTE in after  # and drawn, not the lines rendered before


async def test_the_cursor_is_drawn_as_focused_only_in_the_focused_table() -> None:
    app = make_app(auto_refresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        await pilot.press("2")
        vpcs, peering = table(app, "vpcs"), table(app, "peering")
        await until(pilot, lambda: vpcs.has_focus, what="the first network table focused")
        focused_cursor = vpcs.render_line(1)  # line 0 is the header, line 1 the cursor row
        await pilot.press("tab")
        await until(pilot, lambda: peering.has_focus, what="the next table focused")
        await pilot.pause()
        blurred_cursor = vpcs.render_line(1)
        assert blurred_cursor.text == focused_cursor.text
        assert list(blurred_cursor) != list(focused_cursor)  # same words, not the focused cursor's style
        await pilot.press("2")  # already shown: nothing moves
        await pilot.press("shift+tab")
        await until(pilot, lambda: vpcs.has_focus, what="focus back")
        await pilot.pause()
        assert list(vpcs.render_line(1)) == list(focused_cursor)


async def test_a_refresh_that_found_the_same_data_touches_no_cell_and_recomputes_nothing() -> None:
    fetchers = data.handoff_fetchers()
    fetchers["aws"] = data.Scripted(data.ok("aws", data.handoff_aws()), data.ok("aws", data.handoff_aws()))
    app = make_app(fetchers, auto_refresh=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await settled(pilot)
        await pilot.press("2", "tab", "tab", "down")
        routes = table(app, "route_tables")
        before = routes.current_row()
        assert before is not None
        touched: list[str] = []
        for name in ("update_cell", "add_row", "remove_row", "clear"):
            original = getattr(routes, name)
            setattr(routes, name, lambda *a, _n=name, _o=original, **k: touched.append(_n) or _o(*a, **k))
        computed = app._parts.computed.copy()
        await pilot.press("r")
        await until(pilot, lambda: fetchers["aws"].calls == 2 and not app._busy, what="second read")
        await app.workers.wait_for_complete()
        after = routes.current_row()
        assert touched == []  # the same rows, drawn the same: nothing to redo
        assert after is not None and after.key == before.key and after.cells == before.cells
        # Equal data: the monitor kept the first read's objects, so the analysis reused its rows as they were.
        assert after.subject is before.subject
        assert app._parts.computed["network tables"] == computed["network tables"]
