"""Random histories and random command sequences against a reference model of playback."""

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from playback.errors import AlreadyPlayingError, NotPlayingError, SessionEndedError
from playback.session import PlaybackSession, PlaybackState
from tests.playback.build import event

SECOND = 1_000_000
START = 1_700_000_000 * SECOND


@st.composite
def histories(draw):
    """A range of up to 5 s and events in it (some at the very start, some sharing timestamps)."""
    span = draw(st.integers(min_value=1, max_value=5 * SECOND))
    offsets = sorted(draw(st.lists(st.integers(min_value=0, max_value=span), max_size=60)))
    entities = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=len(offsets), max_size=len(offsets)))
    ops = draw(st.lists(st.sampled_from("crud"), min_size=len(offsets), max_size=len(offsets)))
    events = [
        event(seq, START + offset, entity, op)
        for seq, (offset, entity, op) in enumerate(zip(offsets, entities, ops, strict=True), start=1)
    ]
    return START + span, events


_speeds = st.sampled_from([0.1, 0.5, 1.0, 2.5, 10.0, 1000.0]) | st.floats(min_value=0.1, max_value=1000.0)
_commands = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.3]) | st.floats(min_value=0.0, max_value=2.0),
        st.one_of(
            st.tuples(st.just("start"), st.none() | _speeds),
            st.just(("stop",)),
            st.tuples(st.just("seek"), st.floats(min_value=0.0, max_value=1.0)),
            st.tuples(st.just("speed"), _speeds),
            st.tuples(st.just("feed"), st.floats(min_value=0.0, max_value=1.0)),
            st.just(("frames",)),
        ),
    ),
    max_size=40,
)
_options = st.fixed_dictionaries(
    {
        "frame_interval_s": st.sampled_from([0.05, 0.1, 0.25]),
        "max_buffered_events": st.integers(min_value=1, max_value=20),
        "max_frame_events": st.integers(min_value=1, max_value=10),
        "read_ahead_factor": st.floats(min_value=1.5, max_value=10.0),
    }
)


class ReferenceClock:
    """Exact rational positions, with every anchor kept so a past deadline can be looked up."""

    def __init__(self, end: int) -> None:
        self.end = end
        self.speed = 1.0
        self.running = False
        self.anchors = [(-math.inf, Fraction(START), 1.0, False)]

    def at(self, wall: float) -> Fraction:
        anchor_wall, position, speed, running = [a for a in self.anchors if a[0] <= wall][-1]
        if not running:
            return position
        return min(Fraction(self.end), position + (Fraction(wall) - Fraction(anchor_wall)) * Fraction(speed) * SECOND)

    def command(self, now: float, *, position: Fraction | None = None, speed=None, running=None) -> None:
        here = self.at(now) if position is None else position
        self.speed = self.speed if speed is None else speed
        self.running = self.running if running is None else running
        self.anchors.append((now, here, self.speed, self.running))


@settings(max_examples=300, deadline=None)
@given(history=histories(), commands=_commands, options=_options)
def test_frames_replay_exactly_the_history_of_each_segment_never_early_and_end_at_the_range_end(
    history, commands, options
):
    end, events = history
    interval = options["frame_interval_s"]
    playback = PlaybackSession(
        START,
        end,
        frame_interval_s=interval,
        max_buffered_events=options["max_buffered_events"],
        max_frame_events=options["max_frame_events"],
        read_ahead_s=interval * options["read_ahead_factor"],
    )
    reference = ReferenceClock(end)
    model_state = PlaybackState.IDLE
    segment_start = START  # where frames restart: the range start or the last seek target
    expected_from = START
    fed_until = START
    delivered = []
    now = 0.0

    def feed(fraction: float) -> None:
        nonlocal fed_until
        request = playback.needs_data()
        if request is None:
            return
        upto = request.after + max(1, math.ceil((request.upto - request.after) * fraction))
        batch = [e for e in events if request.after < e.timestamp <= upto]
        assert playback.feed(batch, after=request.after, upto=upto)
        fed_until = upto

    def collect() -> None:
        nonlocal expected_from, model_state
        before = model_state
        frames = playback.frames_due(now)
        for frame in frames:
            assert frame.from_ == expected_from
            assert frame.from_ < frame.to <= fed_until
            assert frame.deadline <= now
            # Never early: the clock had passed `to` at the frame's deadline.
            assert frame.to <= reference.at(frame.deadline) + Fraction(6, 10)
            assert list(frame.events) == [e for e in events if frame.from_ < e.timestamp <= frame.to]
            delivered.extend(frame.events)
            expected_from = frame.to
        if expected_from == end and before is not PlaybackState.ENDED:
            # Ending stops the clock at the end; a later seek finds it paused.
            reference.command(now, running=False)
            model_state = PlaybackState.ENDED
        assert playback.state is model_state
        if before in (PlaybackState.IDLE, PlaybackState.ENDED):
            assert frames == []

    for step, command in commands:
        now += step
        match command:
            case ("start", speed):
                if model_state is PlaybackState.ENDED:
                    try:
                        playback.start(now, speed)
                    except SessionEndedError:
                        pass
                    else:
                        raise AssertionError("start on an ended session must be refused")
                elif model_state is PlaybackState.PLAYING:
                    try:
                        playback.start(now, speed)
                    except AlreadyPlayingError:
                        pass
                    else:
                        raise AssertionError("start on a playing session must be refused")
                else:
                    playback.start(now, speed)
                    reference.command(now, speed=speed, running=True)
                    model_state = PlaybackState.PLAYING
            case ("stop",):
                if model_state is PlaybackState.PLAYING:
                    playback.stop(now)
                    reference.command(now, running=False)
                    model_state = PlaybackState.PAUSED
                else:
                    try:
                        playback.stop(now)
                    except NotPlayingError:
                        pass
                    else:
                        raise AssertionError("stop on a session that is not playing must be refused")
            case ("seek", fraction):
                target = START + round((end - START) * fraction)
                assert playback.seek(target, now) == target
                reference.command(now, position=Fraction(target))
                delivered = []
                segment_start = expected_from = fed_until = target
                if target == end:
                    reference.command(now, running=False)
                    model_state = PlaybackState.ENDED
                elif model_state is PlaybackState.ENDED:
                    model_state = PlaybackState.PAUSED
            case ("speed", speed):
                playback.set_speed(speed, now)
                reference.command(now, speed=speed)
            case ("feed", fraction):
                feed(fraction)
            case ("frames",):
                collect()
        assert abs(playback.position(now) - reference.at(now)) <= Fraction(6, 10)
        assert playback.sent_to == expected_from

    # Play what is left to the end, with a runner that answers every request at once and wakes late.
    if model_state is PlaybackState.PAUSED or model_state is PlaybackState.IDLE:
        playback.start(now)
        reference.command(now, running=True)
        model_state = PlaybackState.PLAYING
    for _ in range(10_000):
        if model_state is PlaybackState.ENDED:
            break
        feed(1.0)
        deadline = playback.next_deadline()
        now = max(now, deadline if deadline is not None else now) + 0.5
        collect()
    assert model_state is PlaybackState.ENDED
    assert expected_from == end
    # The frames since the last seek, joined, are exactly the history of (segment start, end].
    assert delivered == [e for e in events if segment_start < e.timestamp <= end]
    assert playback.next_deadline() is None
    assert playback.needs_data() is None
