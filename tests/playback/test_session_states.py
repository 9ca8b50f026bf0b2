import pytest

from playback.errors import (
    AlreadyPlayingError,
    IllegalTransitionError,
    InvalidSpeedError,
    NotPlayingError,
    PositionOutOfRangeError,
    SessionEndedError,
)
from playback.session import PlaybackSession, PlaybackState

SECOND = 1_000_000
START = 1_700_000_000 * SECOND
END = START + 10 * SECOND


def session(**options) -> PlaybackSession:
    return PlaybackSession(START, END, frame_interval_s=0.1, **options)


def test_a_new_session_is_idle_at_the_range_start_with_nothing_due():
    playback = session()
    assert playback.state is PlaybackState.IDLE
    assert playback.sent_to == START
    assert playback.position(now=100.0) == START
    assert playback.next_deadline() is None
    assert playback.frames_due(now=100.0) == []


def test_start_plays_and_makes_the_first_frame_due_one_interval_later():
    playback = session()
    playback.start(now=5.0)
    assert playback.state is PlaybackState.PLAYING
    assert playback.next_deadline() == pytest.approx(5.1)


def test_start_with_a_speed_sets_it_before_playing():
    playback = session()
    playback.start(now=0.0, speed=10.0)
    assert playback.speed == 10.0
    assert playback.position(now=1.0) == START + 10 * SECOND


def test_start_with_an_invalid_speed_changes_nothing():
    playback = session()
    with pytest.raises(InvalidSpeedError):
        playback.start(now=0.0, speed=5000.0)
    assert playback.state is PlaybackState.IDLE
    assert playback.speed == 1.0


def test_start_on_a_playing_session_is_not_allowed():
    playback = session()
    playback.start(now=0.0)
    with pytest.raises(AlreadyPlayingError, match="cannot start a playing session"):
        playback.start(now=1.0)


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda s: None, "cannot stop an idle session"),
        (lambda s: (s.start(now=0.0), s.stop(now=0.5)), "cannot stop a paused session"),
        (lambda s: s.seek(END, now=0.0), "cannot stop an ended session"),
    ],
)
def test_stop_on_a_session_that_is_not_playing_is_not_allowed(prepare, message):
    playback = session()
    prepare(playback)
    with pytest.raises(NotPlayingError, match=message):
        playback.stop(now=1.0)


def test_stop_pauses_at_the_clock_position():
    playback = session()
    playback.start(now=0.0)
    playback.stop(now=0.75)
    assert playback.state is PlaybackState.PAUSED
    assert playback.position(now=9.0) == START + 750_000


def test_start_on_an_ended_session_is_refused_until_a_seek():
    playback = session()
    playback.seek(END, now=0.0)
    assert playback.state is PlaybackState.ENDED
    with pytest.raises(SessionEndedError, match="cannot start an ended session; seek first"):
        playback.start(now=1.0)
    playback.seek(START + SECOND, now=2.0)
    assert playback.state is PlaybackState.PAUSED
    playback.start(now=3.0)
    assert playback.state is PlaybackState.PLAYING


def test_every_transition_error_is_an_illegal_transition():
    assert issubclass(SessionEndedError, IllegalTransitionError)
    assert issubclass(AlreadyPlayingError, IllegalTransitionError)
    assert issubclass(NotPlayingError, IllegalTransitionError)


@pytest.mark.parametrize("begin", ["idle", "playing", "paused"])
def test_seek_keeps_the_state_and_answers_the_position_whose_state_is_needed(begin):
    playback = session()
    if begin != "idle":
        playback.start(now=0.0)
    if begin == "paused":
        playback.stop(now=0.5)
    before = playback.state
    assert playback.seek(START + 5 * SECOND, now=1.0) == START + 5 * SECOND
    assert playback.state is before
    assert playback.sent_to == START + 5 * SECOND


def test_seek_to_the_range_end_ends_a_playing_session():
    playback = session()
    playback.start(now=0.0)
    playback.seek(END, now=1.0)
    assert playback.state is PlaybackState.ENDED
    assert playback.position(now=5.0) == END
    assert playback.next_deadline() is None
    assert playback.needs_data() is None


@pytest.mark.parametrize("target", [START - 1, END + 1])
def test_seek_outside_the_range_changes_nothing(target):
    playback = session()
    playback.start(now=0.0)
    with pytest.raises(PositionOutOfRangeError):
        playback.seek(target, now=1.0)
    assert playback.state is PlaybackState.PLAYING
    assert playback.position(now=1.0) == START + SECOND


def test_speed_can_change_in_every_state():
    playback = session()
    playback.set_speed(2.0, now=0.0)
    playback.start(now=0.0)
    playback.set_speed(3.0, now=1.0)
    playback.stop(now=2.0)
    playback.set_speed(4.0, now=3.0)
    assert playback.position(now=3.0) == START + 5 * SECOND
    playback.seek(END, now=3.0)
    playback.set_speed(5.0, now=4.0)
    assert playback.speed == 5.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"read_ahead_s": 0.1}, "must exceed frame_interval_s"),
        ({"max_buffered_events": 0}, "at least 1"),
        ({"max_frame_events": 0}, "at least 1"),
    ],
)
def test_bounds_that_cannot_work_are_refused_with_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        session(**options)


def test_a_non_positive_frame_interval_is_refused():
    with pytest.raises(ValueError, match="frame_interval_s must be positive"):
        PlaybackSession(START, END, frame_interval_s=0.0)
