"""The dashboard as a person uses it: keys typed fast, the `w` prompt and its answer, at 80x24."""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from goodword_tui.analysis.policy import parse_address
from goodword_tui.ui.app import Dashboard
from goodword_tui.ui.screens import EntryScreen, WhyScreen
from tests.ui import data
from tests.ui.conftest import settled, until
from tests.ui.test_dashboard import make_app, table, text_of

KEY_NAMES = {"/": "slash", " ": "space", ".": "full_stop", "?": "question_mark"}


async def type_fast(pilot: Pilot, text: str, *, then: tuple[str, ...] = ()) -> None:
    """Every key read at once, as from a paste or a fast typist: nothing is handled between two keys (unlike
    `pilot.press`, which waits for the app to be idle after each)."""
    app = pilot.app
    for char in text:
        app.post_message(events.Key(KEY_NAMES.get(char, char), char))
    for key in then:
        app.post_message(events.Key(key, None))
    for _ in range(5):
        await pilot.pause()


async def focused_why_prompt(pilot: Pilot) -> Input:
    """The `w` prompt's field, once the screen is up and the field has the focus."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, WhyScreen), what="why screen")
    field = app.screen.query_one(Input)
    await until(pilot, lambda: app.focused is field, what="the prompt focused")
    return field


async def test_keys_typed_right_after_slash_land_in_the_filter_bar() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await type_fast(pilot, "/q")
        assert app.is_running and app.return_code is None
        bar = app.screen.query_one("#filter-bar", Input)
        assert bar.display and app.focused is bar
        assert bar.value == "q"
        assert table(app, "findings").filter_text == "q"


async def test_slash_types_itself_inside_the_filter_bar() -> None:
    """A CIDR is filtered for as typed: `/` in the bar is a character, not "open the filter" again."""
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("3")
        await type_fast(pilot, "/10.0.0.0/8")
        assert app.screen.query_one("#filter-bar", Input).value == "10.0.0.0/8"
        entries = table(app, "entries")
        assert entries.filter_text == "10.0.0.0/8"
        assert [r.key for r in entries.visible_rows()] == ["ip:allowed:10.0.0.0/8"]


async def test_keys_typed_right_after_w_land_in_the_prompt() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await type_fast(pilot, "w34.33.7.3", then=("enter",))
        await until(pilot, lambda: isinstance(app.screen, WhyScreen), what="why screen")
        await until(pilot, lambda: app.screen.query_one(Input).value == "34.33.7.3", what="typed address")
        await until(pilot, lambda: "ADMITTED" in text_of(app.screen.query_one("#why-result", Static)), what="answer")
        # `q` and `w` in the prompt are characters, not quit / another prompt
        await type_fast(pilot, "qw")
        assert app.is_running and len(app.screen_stack) == 2
        assert app.screen.query_one(Input).value == "34.33.7.3qw"


async def test_an_address_typed_right_after_w_replaces_the_one_it_offers() -> None:
    """On a row with an address, `w` offers it, selected: typing replaces it. Typed before the prompt had the
    focus, the keys must do the same, not land after the offer and then be selected away with it."""
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("3")  # the Snowflake entries: down to the first single address
        for _ in range(10):
            row = app._dashboard().current_row()
            if row is not None and parse_address(row.copy or "") is not None:
                break
            await pilot.press("down")
        else:
            raise AssertionError("no single address in the first ten entries")
        await type_fast(pilot, "w10.0.0.30")
        field = await focused_why_prompt(pilot)
        assert field.value == "10.0.0.30"
        await type_fast(pilot, "0")  # typed once the focus is there: goes on from the same place
        assert field.value == "10.0.0.300"


async def test_a_paste_right_after_w_lands_in_the_prompt() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("3")
        app.post_message(events.Key("w", "w"))
        app.post_message(events.Paste("172.22.2.106 172.20.0.91 tcp/22"))
        field = await focused_why_prompt(pilot)
        assert field.value == "172.22.2.106 172.20.0.91 tcp/22"


async def test_keys_typed_right_after_a_land_in_the_entry_field() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("3")
        await type_fast(pilot, "a34.1.2.3")
        await until(pilot, lambda: isinstance(app.screen, EntryScreen), what="the add-entry form")
        await until(pilot, lambda: app.screen.query_one("#entry-cidr", Input).value == "34.1.2.3", what="typed")
        assert app.focused is app.screen.query_one("#entry-cidr", Input)
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)


async def test_the_answer_scrolls_at_80x24_while_the_field_keeps_the_focus() -> None:
    app = make_app(data.incident_fetchers())
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("w")
        field = app.screen.query_one(Input)
        field.value = "172.22.2.106 172.20.0.91 tcp/22"  # every hop of a working path: taller than 80x24
        await pilot.press("enter")
        body = app.screen.query_one("#why-body")
        await until(pilot, lambda: body.max_scroll_y > 0, what="an answer taller than the screen")
        await pilot.press("pagedown")
        assert body.scroll_y > 0
        await pilot.press("up")
        assert app.focused is field
        await pilot.press("pageup")
        assert body.scroll_y == 0


async def test_w_refuses_an_out_of_range_port_with_a_clear_message() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("w")
        app.screen.query_one(Input).value = "172.22.2.106 172.20.0.91 tcp/99999"
        await pilot.press("enter")
        answer = text_of(app.screen.query_one("#why-result", Static))
        assert "Port 99999 is out of range: a port is a whole number from 1 to 65535" in answer
        assert "REACHABLE" not in answer


async def test_w_names_the_baseline_label_of_the_entry_it_cites() -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await settled(pilot)
        await pilot.press("w")
        app.screen.query_one(Input).value = "34.106.109.131"
        await pilot.press("enter")
        answer = text_of(app.screen.query_one("#why-result", Static))
        assert "ALLOWED_IP_LIST entry 34.106.109.131 (Airbyte Cloud US)" in answer
        await pilot.press("escape")
        assert isinstance(app.screen, Dashboard)
