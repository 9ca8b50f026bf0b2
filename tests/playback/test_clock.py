import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from playback.clock import MAX_SPEED, MIN_SPEED, PlaybackClock
from playback.errors import InvalidSpeedError, PositionOutOfRangeError, TimeWentBackwardsError

SECOND = 1_000_000
START = 1_700_000_000 * SECOND
END = START + 3600 * SECOND


def test_a_new_clock_is_paused_at_the_range_start():
    clock = PlaybackClock(START, END)
    assert not clock.running
    assert clock.position(now=5.0) == START
    assert clock.position(now=500.0) == START


def test_position_advances_at_speed_from_the_anchor():
    clock = PlaybackClock(START, END)
    clock.play(now=10.0)
    assert clock.position(now=10.0) == START
    assert clock.position(now=11.5) == START + 1_500_000
    clock.set_speed(4.0, now=12.0)
    assert clock.position(now=12.0) == START + 2 * SECOND
    assert clock.position(now=12.25) == START + 3 * SECOND


def test_pause_freezes_the_position_and_play_resumes_from_it():
    clock = PlaybackClock(START, END, speed=2.0)
    clock.play(now=0.0)
    clock.pause(now=3.0)
    assert clock.position(now=3.0) == START + 6 * SECOND
    assert clock.position(now=100.0) == START + 6 * SECOND
    clock.play(now=100.0)
    assert clock.position(now=101.0) == START + 8 * SECOND


def test_speed_change_while_paused_applies_from_the_next_play():
    clock = PlaybackClock(START, END)
    clock.set_speed(10.0, now=1.0)
    assert clock.position(now=2.0) == START
    clock.play(now=2.0)
    assert clock.position(now=2.5) == START + 5 * SECOND


def test_seek_re_anchors_and_keeps_running_or_paused():
    clock = PlaybackClock(START, END)
    clock.play(now=0.0)
    clock.seek(START + 60 * SECOND, now=5.0)
    assert clock.running
    assert clock.position(now=6.0) == START + 61 * SECOND
    clock.pause(now=6.0)
    clock.seek(START + 10 * SECOND, now=7.0)
    assert not clock.running
    assert clock.position(now=9.0) == START + 10 * SECOND


def test_position_is_clamped_to_the_range_end():
    clock = PlaybackClock(START, START + 5 * SECOND, speed=MAX_SPEED)
    clock.play(now=0.0)
    assert clock.position(now=1.0) == START + 5 * SECOND
    clock.set_speed(1.0, now=1.0)
    assert clock.position(now=2.0) == START + 5 * SECOND


def test_seek_to_either_end_of_the_range_is_allowed():
    clock = PlaybackClock(START, END)
    clock.seek(END, now=0.0)
    assert clock.position(now=0.0) == END
    clock.seek(START, now=0.0)
    assert clock.position(now=0.0) == START


@pytest.mark.parametrize("position", [START - 1, END + 1])
def test_seek_outside_the_range_raises_position_out_of_range(position):
    clock = PlaybackClock(START, END)
    with pytest.raises(PositionOutOfRangeError, match="outside the playback range"):
        clock.seek(position, now=0.0)
    assert clock.position(now=0.0) == START


@pytest.mark.parametrize("speed", [0.0, -1.0, 0.09, 1000.5, math.inf, math.nan])
def test_speeds_outside_a_tenth_to_a_thousand_raise_invalid_speed(speed):
    clock = PlaybackClock(START, END)
    clock.play(now=0.0)
    with pytest.raises(InvalidSpeedError, match=r"speed must be between 0\.1 and 1000"):
        clock.set_speed(speed, now=1.0)
    assert clock.speed == 1.0
    assert clock.position(now=2.0) == START + 2 * SECOND
    with pytest.raises(InvalidSpeedError):
        PlaybackClock(START, END, speed=speed)


@pytest.mark.parametrize("speed", [MIN_SPEED, MAX_SPEED])
def test_speed_bounds_are_inclusive(speed):
    clock = PlaybackClock(START, END, speed=speed)
    clock.play(now=0.0)
    assert clock.position(now=1.0) == START + round(speed * SECOND)


def test_an_empty_range_is_refused():
    with pytest.raises(ValueError, match="the range is empty"):
        PlaybackClock(START, START)


def test_time_going_backwards_is_refused():
    clock = PlaybackClock(START, END)
    clock.play(now=10.0)
    with pytest.raises(TimeWentBackwardsError):
        clock.position(now=9.0)
    with pytest.raises(TimeWentBackwardsError):
        clock.pause(now=9.0)
    with pytest.raises(TimeWentBackwardsError):
        clock.seek(START, now=9.0)


def test_hours_of_playback_with_many_speed_changes_do_not_drift():
    clock = PlaybackClock(START, END + 100 * 3600 * SECOND, speed=MIN_SPEED)
    now = 1_000_000.0
    clock.play(now=now)
    # A speed change every 100 ms for an hour, alternating 0.1x and 0.3x: 0.2x on average.
    for step in range(36_000):
        now = 1_000_000.0 + (step + 1) * 0.1
        clock.set_speed(0.3 if step % 2 == 0 else 0.1, now=now)
    assert abs(clock.position(now=now) - (START + 720 * SECOND)) <= 1


# Hypothesis: any sequence of commands at non-decreasing `now` agrees with an exact rational model.

_commands = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=50.0, allow_nan=False),
        st.one_of(
            st.just(("play",)),
            st.just(("pause",)),
            st.tuples(st.just("speed"), st.floats(min_value=MIN_SPEED, max_value=MAX_SPEED)),
            st.tuples(st.just("seek"), st.integers(min_value=START, max_value=END)),
            st.just(("look",)),
        ),
    ),
    max_size=40,
)


@given(commands=_commands)
def test_any_command_sequence_matches_an_exact_model_and_never_goes_back_while_playing(commands):
    clock = PlaybackClock(START, END)
    exact = Fraction(START)
    speed, running, anchor_wall = 1.0, False, Fraction(0)
    now = 0.0
    previous = START
    for step, command in commands:
        now += step
        if running:
            exact = min(Fraction(END), exact + (Fraction(now) - anchor_wall) * Fraction(speed) * SECOND)
        anchor_wall = Fraction(now)
        position = clock.position(now=now)
        # Answers are rounded to the microsecond; float wall times add far less than that.
        assert abs(position - exact) <= Fraction(6, 10)
        if running:
            assert position >= previous
        previous = position
        match command:
            case ("play",):
                clock.play(now=now)
                running = True
            case ("pause",):
                clock.pause(now=now)
                running = False
            case ("speed", new_speed):
                clock.set_speed(new_speed, now=now)
                speed = new_speed
            case ("seek", target):
                clock.seek(target, now=now)
                exact = Fraction(target)
                previous = target
        # A command moves the anchor, never the position (a seek moves it to its target).
        assert clock.position(now=now) == previous
