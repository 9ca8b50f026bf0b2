import itertools

import pytest

from playback.errors import FeedError
from playback.session import DataRequest, PlaybackSession, PlaybackState
from tests.playback.build import event

SECOND = 1_000_000
MS = 1_000
START = 1_700_000_000 * SECOND
END = START + 10 * SECOND


def session(**options) -> PlaybackSession:
    return PlaybackSession(START, END, frame_interval_s=0.1, **options)


def feed_everything(playback: PlaybackSession, history) -> None:
    """Answer every data request at once, from ``history``."""
    while (request := playback.needs_data()) is not None:
        batch = [e for e in history if request.after < e.timestamp <= request.upto]
        assert playback.feed(batch, after=request.after, upto=request.upto)


def test_the_first_frame_is_due_one_interval_after_start_and_covers_what_the_clock_passed():
    history = [event(1, START), event(2, START + 50 * MS), event(3, START + 100 * MS), event(4, START + 101 * MS)]
    playback = session()
    feed_everything(playback, history)
    playback.start(now=0.0)
    assert playback.frames_due(now=0.099) == []
    [frame] = playback.frames_due(now=0.1)
    assert (frame.from_, frame.to) == (START, START + 100 * MS)
    # (from, to]: an event at `from` was in the state already, one at `to` belongs to this frame.
    assert [e.seq for e in frame.events] == [2, 3]
    assert frame.deadline == pytest.approx(0.1)


def test_at_ten_times_speed_a_frame_covers_one_second_of_history():
    playback = session(speed=10.0)
    feed_everything(playback, [])
    playback.start(now=0.0)
    [frame] = playback.frames_due(now=0.1)
    assert frame.to - frame.from_ == SECOND


def test_frames_are_contiguous_and_carry_exactly_the_events_of_their_interval():
    history = [event(n, START + n * 7 * MS, entity=f"e{n % 3}") for n in range(1, 400)]
    playback = session(speed=2.0)
    playback.start(now=0.0)
    frames = []
    now = 0.0
    while playback.state is PlaybackState.PLAYING:
        feed_everything(playback, history)
        now = playback.next_deadline()
        frames.extend(playback.frames_due(now))
    assert frames[0].from_ == START
    assert all(b.from_ == a.to for a, b in itertools.pairwise(frames))
    for frame in frames:
        assert list(frame.events) == [e for e in history if frame.from_ < e.timestamp <= frame.to]
    assert frames[-1].to == END
    assert playback.state is PlaybackState.ENDED


def test_deadlines_are_absolute_so_lateness_does_not_accumulate():
    playback = session()
    feed_everything(playback, [])
    playback.start(now=0.0)
    for k in range(1, 30):
        # The runner always wakes 30 ms late; the schedule does not drift.
        frames = playback.frames_due(now=k * 0.1 + 0.03)
        assert [f.deadline for f in frames] == [pytest.approx(k * 0.1)]
        assert frames[0].to == START + k * 100 * MS
        assert playback.next_deadline() == pytest.approx((k + 1) * 0.1)
        feed_everything(playback, [])


def test_a_late_wake_up_folds_the_missed_deadlines_into_one_frame():
    history = [event(n, START + n * 10 * MS) for n in range(1, 100)]
    playback = session()
    feed_everything(playback, history)
    playback.start(now=0.0)
    [frame] = playback.frames_due(now=0.95)
    assert (frame.from_, frame.to) == (START, START + 900 * MS)
    assert frame.deadline == pytest.approx(0.9)
    assert [e.seq for e in frame.events] == list(range(1, 91))
    assert playback.next_deadline() == pytest.approx(1.0)


def test_a_long_fold_is_split_into_frames_of_bounded_size_at_timestamp_boundaries():
    stamps = [10, 20, 20, 20, 30, 40, 40, 50]
    history = [event(n, START + ms * MS) for n, ms in enumerate(stamps, start=1)]
    playback = session(max_frame_events=2)
    feed_everything(playback, history)
    playback.start(now=0.0)
    frames = playback.frames_due(now=0.1)
    assert [[e.seq for e in f.events] for f in frames] == [[1, 2, 3, 4], [5, 6, 7], [8]]
    assert [(f.from_ - START, f.to - START) for f in frames] == [
        (0, 20 * MS),
        (20 * MS, 40 * MS),
        (40 * MS, 100 * MS),
    ]


def test_no_frame_covers_history_that_was_not_fed_completely():
    history = [event(1, START + 30 * MS), event(2, START + 80 * MS)]
    playback = session()
    playback.start(now=0.0)
    assert playback.frames_due(now=0.1) == []
    assert playback.feed(history[:1], after=START, upto=START + 50 * MS)
    [partial] = playback.frames_due(now=0.12)
    assert (partial.from_, partial.to) == (START, START + 50 * MS)
    assert [e.seq for e in partial.events] == [1]
    # Once the rest arrives the frame that was due is due at once, not at the next deadline.
    assert playback.feed(history[1:], after=START + 50 * MS, upto=START + SECOND)
    assert playback.next_deadline() == pytest.approx(0.1)
    [rest] = playback.frames_due(now=0.13)
    assert (rest.from_, rest.to) == (START + 50 * MS, START + 100 * MS)
    assert [e.seq for e in rest.events] == [2]


def test_a_speed_change_shows_in_the_next_frame_and_keeps_the_cadence():
    playback = session()
    feed_everything(playback, [])
    playback.start(now=0.0)
    playback.frames_due(now=0.1)
    playback.set_speed(10.0, now=0.15)
    assert playback.next_deadline() == pytest.approx(0.2)
    feed_everything(playback, [])
    [frame] = playback.frames_due(now=0.2)
    assert (frame.from_, frame.to) == (START + 100 * MS, START + 650 * MS)


def test_a_speed_change_after_a_missed_deadline_does_not_rewrite_that_deadline():
    playback = session()
    feed_everything(playback, [])
    playback.start(now=0.0)
    playback.set_speed(100.0, now=0.15)
    [frame] = playback.frames_due(now=0.15)
    assert (frame.to - START, frame.deadline) == (100 * MS, pytest.approx(0.1))


def test_stop_makes_one_last_frame_due_at_once_then_no_more():
    history = [event(1, START + 120 * MS), event(2, START + 160 * MS)]
    playback = session()
    feed_everything(playback, history)
    playback.start(now=0.0)
    playback.frames_due(now=0.1)
    playback.stop(now=0.15)
    assert playback.next_deadline() == pytest.approx(0.15)
    [last] = playback.frames_due(now=0.15)
    assert (last.from_, last.to) == (START + 100 * MS, START + 150 * MS)
    assert [e.seq for e in last.events] == [1]
    assert playback.next_deadline() is None
    assert playback.frames_due(now=60.0) == []


def test_restart_after_stop_continues_from_the_stop_position():
    playback = session()
    feed_everything(playback, [])
    playback.start(now=0.0)
    playback.stop(now=0.15)
    playback.frames_due(now=0.15)
    playback.start(now=10.0)
    feed_everything(playback, [])
    [frame] = playback.frames_due(now=10.1)
    assert (frame.from_, frame.to) == (START + 150 * MS, START + 250 * MS)


def test_the_last_frame_ends_exactly_at_the_range_end_and_ends_the_session():
    playback = PlaybackSession(START, START + SECOND, frame_interval_s=0.1, speed=3.0)
    feed_everything(playback, [event(1, START + SECOND)])
    playback.start(now=0.0)
    frames = [f for k in range(1, 5) for f in playback.frames_due(now=k * 0.1)]
    assert [f.to - START for f in frames] == [300 * MS, 600 * MS, 900 * MS, SECOND]
    assert [e.seq for e in frames[-1].events] == [1]
    assert playback.state is PlaybackState.ENDED
    assert playback.next_deadline() is None
    assert playback.frames_due(now=9.0) == []
    assert playback.position(now=9.0) == START + SECOND


def test_a_paused_or_idle_session_makes_no_frames():
    playback = session()
    feed_everything(playback, [event(1, START + MS)])
    assert playback.frames_due(now=5.0) == []
    playback.start(now=5.0)
    playback.stop(now=5.0)
    assert playback.frames_due(now=50.0) == []
    assert playback.next_deadline() is None


def test_seek_drops_the_buffer_and_frames_continue_from_the_target():
    history = [event(n, START + n * 100 * MS) for n in range(1, 100)]
    playback = session()
    feed_everything(playback, history)
    playback.start(now=0.0)
    playback.frames_due(now=0.1)
    target = START + 5 * SECOND
    playback.seek(target, now=0.12)
    assert playback.buffered_events == 0
    assert playback.covered_until == target
    assert playback.needs_data() == DataRequest(target, target + 5 * SECOND)
    feed_everything(playback, history)
    assert playback.next_deadline() == pytest.approx(0.22)
    [frame] = playback.frames_due(now=0.22)
    assert (frame.from_, frame.to) == (target, target + 100 * MS)
    assert [e.seq for e in frame.events] == [51]


def test_an_answer_to_a_request_made_before_a_seek_is_ignored():
    playback = session()
    request = playback.needs_data()
    playback.seek(START + SECOND, now=0.0)
    stale = [event(1, START + 10 * MS)]
    assert playback.feed(stale, after=request.after, upto=request.upto) is False
    assert playback.buffered_events == 0
    assert playback.covered_until == START + SECOND


@pytest.mark.parametrize(
    ("events", "upto", "message"),
    [
        ([event(1, START)], START + SECOND, "outside"),
        ([event(1, START + 2 * SECOND)], START + SECOND, "outside"),
        ([event(2, START + 5), event(1, START + 5)], START + SECOND, "out of"),
        ([event(1, START + 6), event(2, START + 5)], START + SECOND, "out of"),
        ([], START, "must end after"),
        ([], END + 1, "must end after"),
    ],
)
def test_a_feed_that_breaks_the_contract_raises_and_keeps_nothing(events, upto, message):
    playback = session()
    with pytest.raises(FeedError, match=message):
        playback.feed(events, after=START, upto=upto)
    assert playback.buffered_events == 0
    assert playback.covered_until == START


def test_read_ahead_stops_at_the_event_bound():
    history = [event(n, START + n * MS) for n in range(1, 50)]
    playback = session(max_buffered_events=10)
    request = playback.needs_data()
    playback.feed(history[:10], after=request.after, upto=START + 10 * MS)
    assert playback.needs_data() is None
    playback.start(now=0.0)
    playback.frames_due(now=0.1)
    assert playback.needs_data() == DataRequest(START + 10 * MS, START + 5100 * MS)


def test_read_ahead_is_asked_for_again_once_half_of_it_is_played_and_then_up_to_its_limit():
    playback = session()
    assert playback.needs_data() == DataRequest(START, START + 5 * SECOND)
    assert playback.feed([], after=START, upto=START + 5 * SECOND)
    playback.start(now=0.0)
    playback.frames_due(now=0.1)
    # Not a frame's worth of history after every frame: a read each time.
    assert playback.needs_data() is None
    playback.frames_due(now=2.5)
    assert playback.needs_data() is None
    playback.frames_due(now=2.6)
    assert playback.needs_data() == DataRequest(START + 5 * SECOND, START + 7600 * MS)


def test_read_ahead_reaches_a_bounded_wall_time_ahead_at_the_current_speed():
    playback = session(read_ahead_s=2.0, speed=0.5)
    assert playback.needs_data() == DataRequest(START, START + SECOND)
    playback.set_speed(1000.0, now=0.0)
    # Never beyond the range end.
    assert playback.needs_data() == DataRequest(START, END)
    assert playback.feed([], after=START, upto=END)
    assert playback.needs_data() is None
