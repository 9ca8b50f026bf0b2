"""The async runner and viewer pump against an in-memory history: frames are contiguous and carry exactly the
events of their interval, read-ahead comes in bounded batches that never split a timestamp, a failed read is
retried, a seek resets, the end is reported once, and the pump streams states chunk by chunk."""

import asyncio
import itertools
import math

import msgspec

from playback.frames import Frame
from playback.outbox import EncodedFrame, ViewerOutbox
from playback.ports import ClockStatus, EventBatch, StatePart
from playback.runner import PlaybackRunner, Viewer
from playback.session import PlaybackSession
from tests.playback.build import event

START = 1_700_000_000_000_000
SECOND = 1_000_000


class Memory:
    """An EventSource over a list of events; it can be told to fail the next reads."""

    def __init__(self, events, *, chunk=2):
        self.recorded = sorted(events, key=lambda e: (e.timestamp, e.seq))
        self.reads: list[tuple[int, int, int]] = []
        self.failures = 0
        self.chunk = chunk

    async def events_of(self, after, upto):
        return [e for e in self.recorded if after < e.timestamp <= upto]

    async def events(self, after, upto, limit):
        self.reads.append((after, upto, limit))
        if self.failures:
            self.failures -= 1
            raise OSError("database down")
        found = await self.events_of(after, upto)
        if len(found) <= limit:
            return EventBatch(found, upto)
        cut = found[limit].timestamp
        kept = [e for e in found[:limit] if e.timestamp < cut]
        if kept:
            return EventBatch(kept, cut - 1)
        return EventBatch([e for e in found if e.timestamp == cut], cut)

    async def state(self, position):
        latest = {}
        for e in self.recorded:
            if e.timestamp <= position:
                latest[e.key] = e
        alive = [e for e in latest.values() if e.op != "d"]
        parts = [alive[i : i + self.chunk] for i in range(0, len(alive), self.chunk)] or [[]]
        for part in parts:
            yield StatePart(len(parts), part)


class Recorder:
    """A PlaybackSink that remembers everything, and wakes waiters."""

    def __init__(self):
        self.frames: list[EncodedFrame] = []
        self.resets: list[int] = []
        self.statuses: list[ClockStatus] = []
        self.ends: list[int] = []
        self.changed = asyncio.Event()

    def frame(self, frame):
        self.frames.append(frame)
        self.changed.set()

    def reset(self, position):
        self.resets.append(position)
        self.changed.set()

    def status(self, status):
        self.statuses.append(status)
        self.changed.set()

    def ended(self, position):
        self.ends.append(position)
        self.changed.set()

    async def until(self, condition, timeout=5.0):
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


def history(count=60, step=SECOND // 10):
    # Three events per timestamp, so a batch limit of 2 must not split them.
    return [event(n, START + (n // 3 + 1) * step, entity=f"e{n % 5}") for n in range(count)]


def runner_for(source, sink, *, length=3 * SECOND, speed=10.0, limit=2, **session):
    play = PlaybackSession(START, START + length, frame_interval_s=0.02, speed=speed, **session)
    return PlaybackRunner(play, source, sink, read_limit=limit, status_interval_s=0.2, retry_delay_s=0.05)


async def run_until(runner, sink, condition):
    task = asyncio.create_task(runner.run())
    try:
        await sink.until(condition)
    finally:
        runner.close()
        await task


async def test_frames_are_contiguous_and_carry_exactly_their_events_to_the_end():
    source, sink = Memory(history()), Recorder()
    runner = runner_for(source, sink)
    runner.start()
    await run_until(runner, sink, lambda: sink.ends)
    frames = sink.frames
    assert frames[0].from_ == START
    assert all(a.to == b.from_ for a, b in itertools.pairwise(frames))
    assert frames[-1].to == START + 3 * SECOND
    for frame in frames:
        assert list(frame.events) == [e for e in source.recorded if frame.from_ < e.timestamp <= frame.to]
    assert sink.ends == [START + 3 * SECOND]
    assert sink.statuses[-1].state == "ended"
    assert runner.timing.frames == len(frames)


async def test_read_ahead_is_bounded_and_never_splits_a_timestamp():
    source, sink = Memory(history()), Recorder()
    runner = runner_for(source, sink, max_buffered_events=4, read_ahead_s=0.5)
    runner.start()
    await run_until(runner, sink, lambda: sink.ends)
    assert all(limit == 2 for _, _, limit in source.reads)
    # Each read starts where the previous one was complete: nothing is read twice or skipped.
    covered = [after for after, _, _ in source.reads]
    assert covered == sorted(covered)
    delivered = [e for frame in sink.frames for e in frame.events]
    assert delivered == source.recorded


async def test_a_failed_read_is_retried_and_nothing_is_lost():
    source, sink = Memory(history()), Recorder()
    source.failures = 2
    runner = runner_for(source, sink)
    runner.start()
    await run_until(runner, sink, lambda: sink.ends)
    assert [e for frame in sink.frames for e in frame.events] == source.recorded


async def test_a_seek_resets_the_viewers_and_frames_continue_from_the_target():
    source, sink = Memory(history()), Recorder()
    runner = runner_for(source, sink, speed=1.0)
    runner.start()
    task = asyncio.create_task(runner.run())
    try:
        await sink.until(lambda: len(sink.frames) >= 2)
        target = START + 2 * SECOND
        status = runner.seek(target)
        # The status is the clock right after the seek: a few microseconds on.
        assert target <= status.position < target + SECOND // 10
        assert sink.resets == [target]
        await sink.until(lambda: sink.frames[-1].from_ >= target)
        after = [f for f in sink.frames if f.from_ >= target]
        assert after[0].from_ == target
    finally:
        runner.close()
        await task


async def test_status_is_reported_after_commands_and_periodically():
    source, sink = Memory(history()), Recorder()
    runner = runner_for(source, sink, speed=1.0)
    task = asyncio.create_task(runner.run())
    try:
        await sink.until(lambda: len(sink.statuses) >= 1)
        runner.start(speed=2.0)
        assert sink.statuses[-1].state == "playing"
        assert sink.statuses[-1].speed == 2.0
        count = len(sink.statuses)
        await sink.until(lambda: len(sink.statuses) >= count + 2)
    finally:
        runner.close()
        await task


async def test_the_pump_streams_the_state_then_frames_then_ended():
    source = Memory(history(), chunk=2)
    outbox = ViewerOutbox(START + SECOND)
    viewer = Viewer(outbox)
    sent: list[dict] = []
    done = asyncio.Event()

    async def send(message: bytes) -> None:
        sent.append(msgspec.json.decode(message))
        if sent[-1]["type"] == "ended":
            done.set()

    pump = asyncio.create_task(viewer.pump(send, source.state))
    frame_events = tuple(e for e in source.recorded if START + SECOND < e.timestamp <= START + 2 * SECOND)
    viewer.push(EncodedFrame.of(_frame(START + SECOND, START + 2 * SECOND, frame_events)))
    viewer.ended(b'{"type":"ended","position":"x"}')
    async with asyncio.timeout(5):
        await done.wait()
    viewer.close(1000, "bye")
    assert await pump == (1000, "bye")
    states = [m for m in sent if m["type"] == "state"]
    assert [m["chunk"] for m in states] == list(range(1, states[0]["chunks"] + 1))
    assert states[0]["chunks"] == math.ceil(5 / 2)
    assert [m["type"] for m in sent[len(states) :]] == ["events", "ended"]
    assert [m["seq"] for m in sent if "seq" in m] == list(range(1, len(states) + 2))


async def test_a_close_sends_the_pending_errors_first():
    viewer = Viewer(ViewerOutbox(START))
    viewer.notice(b'{"type":"error"}')
    viewer.close(4409, "gone")
    sent = []

    async def send(message: bytes) -> None:
        sent.append(message)

    assert await viewer.pump(send, Memory([]).state) == (4409, "gone")
    assert sent == [b'{"type":"error"}']


def _frame(start, end, events):
    return Frame(start, end, events, 0.0)
