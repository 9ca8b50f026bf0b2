"""The viewport over a real WebSocket on a real server: a boxed viewer's picture is the state at each frame's ``to``
restricted to its box, while entities move across its edges, the box changes during playback, and is cleared."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.settings import Settings
from tests.live.support import TENANT, Ev, History, Watcher, new_session, of_type, open_socket, parse_time, recent_start
from tests.support import RunningServer, make_token

TOKEN = make_token("viewer-1", TENANT)
LEFT, RIGHT = 103.0, 104.0


def moving_history(start: datetime) -> History:
    """Twelve vehicles sliding east and back across 103..105 in 8 s; a few are deleted and re-created elsewhere."""
    events = [Ev("public.vehicles", f"v{n}", "c", start, _located(102.5 + n * 0.2, 1.3)) for n in range(12)]
    for step in range(1, 81):
        ts = start + timedelta(milliseconds=100 * step)
        n = step % 12
        lon = 102.5 + ((n * 0.2 + step * 0.05) % 2.5)
        if step % 13 == 0:
            events.append(Ev("public.vehicles", f"v{n}", "d", ts, None))
        else:
            events.append(Ev("public.vehicles", f"v{n}", "c" if (step - 12) % 13 == 0 else "u", ts, _located(lon, 1.3)))
    events.append(Ev("zones", "z1", "c", start, {"name": "no geometry"}))
    return History(events)


def _located(lon: float, lat: float) -> dict[str, Any]:
    return {"geojson": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 4), lat]}}}


def in_box(state: Any, box: list[float] | None) -> bool:
    if box is None:
        return True
    if not isinstance(state, dict) or "geojson" not in state:
        return False
    lon, lat = state["geojson"]["geometry"]["coordinates"]
    return box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    # A seek farther than 3 s is answered with a state, a nearer one with a diff.
    return settings.replace(ws_resume_wait_ms=100, ws_auth_timeout_s=1.0, diff_seek_within_s=3.0)


@pytest.fixture
def history() -> History:
    return moving_history(recent_start())


class BoxedWatcher(Watcher):
    """Checks after every frame that the picture is the model's state at its position, restricted to the box.

    Between a ``view`` and the frame that answers it, frames follow either box: ``checking`` is off then.
    """

    box: list[float] | None = None
    checking: bool = True
    checked: int = 0

    def apply(self, message: dict[str, Any]) -> None:
        super().apply(message)
        picture_done = message["type"] == "events" or (
            message["type"] == "state" and message["chunk"] == message["chunks"]
        )
        if picture_done and self.checking:
            self.check(message)

    def check(self, message: dict[str, Any]) -> None:
        assert self.history is not None
        assert self.position is not None
        truth = self.history.state(self.position)
        expected = {key: value for key, value in truth.items() if in_box(value[1], self.box)}
        assert self.picture == expected, f"picture at {self.position} with box {self.box}"
        assert message.get("total") in (None, len(truth))
        self.checked += 1

    async def view(self, box: list[float] | None) -> dict[str, Any]:
        """Send a box and wait for the frame that answers it (flagged seek, from the position to itself)."""
        self.checking = False
        await self.send(type="view", bbox=box)
        diff = await self.until(lambda m: m["type"] == "events" and m.get("seek"))
        assert diff["from"] == diff["to"]
        self.box, self.checking = box, True
        self.check(diff)
        return diff


@contextlib.asynccontextmanager
async def boxed_watcher(server: RunningServer, history: History) -> AsyncIterator[BoxedWatcher]:
    """A new session's viewer that has its first state."""
    async with server.client() as client:
        session_id = await new_session(client)
    async with open_socket(server.url, session_id, TOKEN) as ws:
        watcher = BoxedWatcher(ws, history, check_events=False)
        await watcher.state_complete()
        yield watcher


def reaching(moment: datetime) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m["type"] == "events" and parse_time(m["to"]) >= moment


async def test_a_boxed_viewer_sees_the_state_restricted_to_its_box_while_playing_and_changing_it(live_server, history):
    async with boxed_watcher(live_server, history) as watcher:
        # The first box takes effect with one frame: only leaves (the viewer had everything).
        diff = await watcher.view([LEFT, 1.0, RIGHT, 2.0])
        assert diff["events"]
        assert all(item["view"] == "leave" for item in diff["events"])
        assert diff["total"] == len(history.state(history.first))
        await watcher.send(type="start", speed=4)
        await watcher.until(lambda m: m["type"] == "events" and any(i.get("view") == "enter" for i in m["events"]))
        await watcher.until(lambda m: m["type"] == "events" and any(i.get("view") == "leave" for i in m["events"]))
        # A new box while playing: the difference, as one frame.
        diff = await watcher.view([RIGHT, 1.0, 105.0, 2.0])
        assert {item.get("view") for item in diff["events"]} <= {"enter", "leave"}
        await watcher.until(reaching(history.first + timedelta(seconds=5)))
        # Cleared: the entities outside come back as enters, the zone without a geometry among them.
        diff = await watcher.view(None)
        entered = {(i["table_name"], i["entity_id"]) for i in diff["events"] if i.get("view") == "enter"}
        assert ("zones", "z1") in entered
        await watcher.until(reaching(history.last))
        await watcher.send(type="stop")
        await watcher.until(of_type("status", state="paused"))
    assert watcher.checked > 20
    watcher.assert_picture_true()


async def test_a_boxed_viewer_gets_a_restricted_state_after_a_far_seek_and_a_restricted_diff_after_a_near_one(
    live_server, history
):
    async with boxed_watcher(live_server, history) as watcher:
        await watcher.view([LEFT, 1.0, RIGHT, 2.0])
        for offset in (5.0, 2.5, 7.9):  # far (a state), near (a diff), far
            target = history.first + timedelta(seconds=offset)
            await watcher.send(type="seek", timestamp=target.isoformat())
            await watcher.until(lambda m, t=target: m["type"] in ("events", "state") and watcher.position == t)
    assert watcher.states == 3  # the first, and the two far seeks
    assert watcher.diff_seeks == 2  # the box's own frame, and the near seek


async def test_a_bad_box_is_refused_and_changes_nothing(live_server, history):
    async with boxed_watcher(live_server, history) as watcher:
        for bad in ("[1,2,3]", "[0,50,1,40]", "[0,-91,1,0]", "[-181,0,1,1]", '["a",0,1,1]', "[0,0,1,1e999]"):
            await watcher.ws.send(f'{{"type":"view","bbox":{bad}}}')
            error = await watcher.until(of_type("error"))
            assert error["code"] == "BAD_MESSAGE"
            assert "$.bbox" in error["message"]
        # Nothing changed: the viewer still sees everything as playback goes on.
        await watcher.send(type="start", speed=4)
        await watcher.until(reaching(history.first + timedelta(seconds=2)))
        assert all("total" not in m and "view" not in str(m) for m in watcher.received if m["type"] == "events")
