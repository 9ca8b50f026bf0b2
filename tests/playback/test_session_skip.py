"""Skipping quiet time against a reference model: random clustered histories, random commands, every frame checked."""

import contextlib
import itertools

from hypothesis import event as note_coverage
from hypothesis import given, settings
from hypothesis import strategies as st

from playback.errors import IllegalTransitionError, PositionOutOfRangeError
from playback.session import PlaybackSession, PlaybackState
from tests.playback.build import event
from tests.playback.test_session_model import START
from tests.playback.test_session_transport import state_at

SECOND = 1_000_000


@st.composite
def clustered_histories(draw):
    """A range of up to 10 minutes whose events come in bursts separated by quiet stretches of up to minutes."""
    offsets: list[int] = []
    at = draw(st.integers(0, 5 * SECOND))
    for _ in range(draw(st.integers(0, 6))):
        burst = draw(st.lists(st.integers(0, 2 * SECOND), max_size=6))
        offsets.extend(at + offset for offset in burst)
        at += 2 * SECOND + draw(st.integers(0, 120 * SECOND))
    offsets.sort()
    span = max([at, *offsets]) + draw(st.integers(1, 30 * SECOND))
    entities = draw(st.lists(st.sampled_from(["a", "b"]), min_size=len(offsets), max_size=len(offsets)))
    ops = draw(st.lists(st.sampled_from("cud"), min_size=len(offsets), max_size=len(offsets)))
    events = [
        event(seq, START + offset, entity, op)
        for seq, (offset, entity, op) in enumerate(zip(offsets, entities, ops, strict=True), start=1)
    ]
    return START + span, events


def quiet_stretches(events):
    """The reference quiet stretches: the open intervals between consecutive distinct event instants."""
    stamps = sorted({e.timestamp for e in events})
    return list(itertools.pairwise(stamps))


_commands = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.1, 0.3, 1.0, 5.0]),
        st.one_of(
            st.tuples(st.just("start"), st.none() | st.sampled_from([1, 10, 30, 90])),
            st.just(("stop",)),
            st.tuples(st.just("seek"), st.floats(0.0, 1.0)),
            st.tuples(st.just("speed"), st.sampled_from([1.0, 5.0, 50.0])),
            st.tuples(st.just("loop"), st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
            st.just(("unloop",)),
            st.tuples(st.just("until"), st.floats(0.0, 1.0)),
            st.just(("frames",)),
        ),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(history=clustered_histories(), commands=_commands, missed=st.sets(st.integers(0, 40), max_size=5))
def test_a_skip_never_jumps_over_an_event_and_the_picture_is_the_reference_state_at_every_frame(
    history, commands, missed
):
    end, events = history
    span = end - START
    # The index may miss stretches (it answers from the rollup), never invent one.
    known = [gap for index, gap in enumerate(quiet_stretches(events)) if index not in missed]
    playback = PlaybackSession(START, end, frame_interval_s=0.1, read_ahead_s=0.5, max_frame_events=3)
    picture = state_at(events, START)
    expected_from = START
    now = 0.0

    def collect():
        nonlocal picture, expected_from
        while (request := playback.needs_gaps()) is not None:
            overlapping = [(a, b) for a, b in known if a < request.upto and b > request.after]
            assert playback.feed_gaps(overlapping, after=request.after, upto=request.upto)
        while (request := playback.needs_data()) is not None:
            batch = [e for e in events if request.after < e.timestamp <= request.upto]
            assert playback.feed(batch, after=request.after, upto=request.upto)
        skip = playback.skip_gaps
        for frame in playback.frames_due(now):
            assert frame.from_ == expected_from, "frames stay contiguous, skips too"
            if frame.skipped:
                note_coverage("a quiet stretch was skipped")
                assert skip is not None
                assert not list(frame.events)
                assert not [e for e in events if frame.from_ < e.timestamp <= frame.to], "a skip jumped over an event"
                # It is inside a stretch the index knew, long enough, and lands just before its next event or a cap.
                assert any(a <= frame.from_ and frame.to < b and b - a >= skip for a, b in known)
                assert playback.position(now) == frame.to
            # Upserts, then the deleted entities leave.
            picture.update((item.key, item) for item in frame.events)
            picture = {key: item for key, item in picture.items() if item.op != "d"}
            expected_from = frame.to
            assert picture == state_at(events, frame.to)
        jump = playback.take_jump()
        if jump is not None:
            picture, expected_from = state_at(events, jump), jump

    for step, command in commands:
        now += step
        match command:
            case ("start", skip):
                try:
                    playback.start(now, skip_gaps=None if skip is None else skip * SECOND)
                except IllegalTransitionError:
                    assert playback.state in (PlaybackState.PLAYING, PlaybackState.ENDED)
                else:
                    assert playback.skip_gaps == (None if skip is None else skip * SECOND)
            case ("stop",):
                try:
                    playback.stop(now)
                except IllegalTransitionError:
                    assert playback.state is not PlaybackState.PLAYING
                assert playback.skip_gaps is None, "a stop forgets the skip"
            case ("seek", fraction):
                picture = state_at(events, playback.seek(START + round(span * fraction), now))
                expected_from = playback.sent_to
            case ("speed", speed):
                playback.set_speed(speed, now)
            case ("loop", a, b):
                low, high = sorted((START + round(span * a), START + round(span * b)))
                if low < high:
                    playback.set_loop(low, high, now)
            case ("unloop",):
                playback.clear_loop(now)
            case ("until", fraction):
                with contextlib.suppress(PositionOutOfRangeError):
                    playback.set_until(START + round(span * fraction), now)
            case ("frames",):
                collect()
        assert playback.sent_to == expected_from
        if playback.state is not PlaybackState.PLAYING:
            assert playback.skip_gaps is None, "whatever pauses or ends playback drops the skip"
    # Play on, skipping every stretch of a second or more, to the end (or a loop, wrapping).
    playback.clear_loop(now)
    for _ in range(400):
        if playback.state is PlaybackState.ENDED:
            break
        if playback.state is not PlaybackState.PLAYING:
            playback.start(now, skip_gaps=SECOND)
        now += 0.2
        collect()
    assert picture == state_at(events, playback.sent_to)


def test_a_skip_lands_one_microsecond_before_the_next_event_which_comes_in_a_normal_frame():
    events = [event(1, START + SECOND, "a", "c"), event(2, START + 100 * SECOND, "a", "u")]
    playback = PlaybackSession(START, START + 200 * SECOND, frame_interval_s=0.1, read_ahead_s=0.5)
    playback.start(0.0, skip_gaps=60 * SECOND)
    request = playback.needs_gaps()
    assert request is not None
    assert playback.feed_gaps([(START + SECOND, START + 100 * SECOND)], after=request.after, upto=request.upto)
    now, frames = 0.0, []
    while len(frames) < 40 and playback.state is PlaybackState.PLAYING:
        now += 0.1
        while (data := playback.needs_data()) is not None:
            playback.feed(
                [e for e in events if data.after < e.timestamp <= data.upto], after=data.after, upto=data.upto
            )
        frames.extend(playback.frames_due(now))
    skips = [frame for frame in frames if frame.skipped]
    assert [(skip.to, len(skip.events)) for skip in skips] == [(START + 100 * SECOND - 1, 0)]
    after = frames[frames.index(skips[0]) + 1]
    assert not after.skipped
    assert [e.seq for e in after.events] == [2]
