"""Step, loop and until against a reference model: random histories, random commands, the viewer's picture checked."""

from hypothesis import event as note_coverage
from hypothesis import given, settings
from hypothesis import strategies as st

from playback.errors import IllegalTransitionError, PositionOutOfRangeError
from playback.session import PlaybackSession, PlaybackState
from tests.playback.test_session_model import START, histories


def state_at(events, position):
    """The reference model: every entity as its latest event at or before ``position`` leaves it."""
    state = {}
    for event in events:
        if event.timestamp <= position:
            if event.op == "d":
                state.pop(event.key, None)
            else:
                state[event.key] = event
    return state


_fraction = st.floats(min_value=0.0, max_value=1.0)
_commands = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.05, 0.1, 0.3, 1.0]),
        st.one_of(
            st.just(("start",)),
            st.just(("stop",)),
            st.tuples(st.just("seek"), _fraction),
            st.tuples(st.just("step"), st.booleans()),
            st.tuples(st.just("loop"), _fraction, _fraction),
            st.just(("unloop",)),
            st.tuples(st.just("until"), _fraction),
            st.tuples(st.just("speed"), st.sampled_from([0.5, 1.0, 3.0, 20.0])),
            st.tuples(st.just("until"), _fraction),
            st.tuples(st.just("loop"), _fraction, _fraction),
            st.just(("frames",)),
        ),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(
    history=histories(),
    commands=_commands,
    interval=st.sampled_from([0.05, 0.1, 0.25]),
    max_frame_events=st.integers(1, 5),
)
def test_step_loop_and_until_keep_the_picture_exact_never_overshoot_and_stay_in_the_loop(
    history, commands, interval, max_frame_events
):
    end, events = history
    span = end - START
    playback = PlaybackSession(
        START, end, frame_interval_s=interval, read_ahead_s=interval * 4, max_frame_events=max_frame_events
    )
    picture = state_at(events, START)
    expected_from = START
    wrapped_in = None  # the loop playback wrapped in, while it stays set: frames must stay inside it
    now = 0.0

    def reset(position):
        nonlocal picture, expected_from
        picture = state_at(events, position)
        expected_from = position

    def collect():
        nonlocal expected_from, wrapped_in
        while (request := playback.needs_data()) is not None:
            batch = [e for e in events if request.after < e.timestamp <= request.upto]
            assert playback.feed(batch, after=request.after, upto=request.upto)
        before, until = playback.state, playback.until
        for frame in playback.frames_due(now):
            assert frame.from_ == expected_from
            if until is not None:
                assert frame.to <= until, "until never overshoots"
            if wrapped_in is not None:
                assert wrapped_in.start <= frame.from_ < frame.to <= wrapped_in.end
            for event in frame.events:
                if event.op == "d":
                    picture.pop(event.key, None)
                else:
                    picture[event.key] = event
            expected_from = frame.to
            assert picture == state_at(events, frame.to)
        jump = playback.take_jump()
        if jump is not None:
            assert jump == playback.loop.start
            assert expected_from == playback.loop.end
            wrapped_in = playback.loop
            reset(jump)
            note_coverage("a loop wrapped")
        if until is not None and before is PlaybackState.PLAYING and playback.state is PlaybackState.PAUSED:
            # Paused by the until: exactly there.
            note_coverage("an until paused playback")
            assert playback.sent_to == until == playback.position(now)
            assert playback.until is None

    for step, command in commands:
        now += step
        match command:
            case ("start",):
                try:
                    playback.start(now)
                except IllegalTransitionError:
                    assert playback.state in (PlaybackState.PLAYING, PlaybackState.ENDED)
            case ("stop",):
                try:
                    playback.stop(now)
                except IllegalTransitionError:
                    assert playback.state is not PlaybackState.PLAYING
            case ("seek", fraction):
                wrapped_in = None
                reset(playback.seek(START + round(span * fraction), now))
            case ("step", forward):
                was = playback.position(now)
                wrapped_in = None
                target = playback.step(forward, now)
                reset(target)
                size = playback.step_size()
                assert target == (min(end, was + size) if forward else max(START, was - size))
                assert playback.position(now) == playback.sent_to == target
                assert playback.state is not PlaybackState.PLAYING
            case ("loop", a, b):
                low, high = sorted((START + round(span * a), START + round(span * b)))
                wrapped_in = None
                if low < high:
                    playback.set_loop(low, high, now)
                else:
                    try:
                        playback.set_loop(low, high, now)
                    except PositionOutOfRangeError:
                        pass
                    else:
                        raise AssertionError("an empty loop must be refused")
            case ("unloop",):
                wrapped_in = None
                playback.clear_loop(now)
            case ("until", fraction):
                at = START + round(span * fraction)
                if at > playback.position(now):
                    playback.set_until(at, now)
                else:
                    try:
                        playback.set_until(at, now)
                    except PositionOutOfRangeError:
                        pass
                    else:
                        raise AssertionError("an until at or behind the position must be refused")
            case ("speed", speed):
                playback.set_speed(speed, now)
            case ("frames",):
                collect()
        if playback.until is not None:
            assert playback.position(now) <= playback.until
        assert playback.sent_to == expected_from
    # Then play on for a while (through wraps and untils), whatever state the commands left.
    for _ in range(30):
        if playback.state is not PlaybackState.PLAYING:
            try:
                playback.start(now)
            except IllegalTransitionError:
                break
        now += 0.3
        collect()
    # Whatever the commands, the viewer's picture is the state where its frames end.
    assert picture == state_at(events, playback.sent_to)
