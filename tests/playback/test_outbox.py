import msgspec
import pytest

from playback.frames import Frame
from playback.outbox import EncodedFrame, StateChunk, StateNeeded, ViewerOutbox
from tests.playback.build import event

SECOND = 1_000_000
START = 1_700_000_000 * SECOND


def frame(from_: int, to: int, *events) -> EncodedFrame:
    return EncodedFrame.of(Frame(from_=START + from_, to=START + to, events=tuple(events), deadline=0.0))


def decode(message: bytes) -> dict:
    return msgspec.json.decode(message)


def started(position: int = START, **bounds) -> ViewerOutbox:
    """An outbox whose initial one-chunk state (seq 1) has been sent."""
    outbox = ViewerOutbox(position, **bounds)
    request = outbox.next_message()
    assert isinstance(request, StateNeeded)
    assert outbox.state_message(request, StateChunk.of(position, [], chunk=1, chunks=1)) is not None
    return outbox


def drain(outbox: ViewerOutbox) -> list[dict]:
    messages = []
    while isinstance(message := outbox.next_message(), bytes):
        messages.append(decode(message))
    return messages


def test_a_new_viewer_gets_the_state_in_chunks_first_then_the_frames():
    outbox = ViewerOutbox(START)
    outbox.push(frame(0, 100, event(1, START + 50)))
    request = outbox.next_message()
    assert isinstance(request, StateNeeded)
    assert request.position == START
    first = outbox.state_message(request, StateChunk.of(START, [event(0, START - 5, "a")], chunk=1, chunks=2))
    second = outbox.state_message(request, StateChunk.of(START, [], chunk=2, chunks=2))
    assert decode(first) == {
        "type": "state",
        "seq": 1,
        "timestamp": "2023-11-14T22:13:20Z",
        "entities": [
            {
                "entity_id": "a",
                "table_name": "public.vehicles",
                "op": "u",
                "entity_state": {"seq": 0},
                "event_timestamp": "2023-11-14T22:13:19.999995Z",
            }
        ],
        "chunk": 1,
        "chunks": 2,
    }
    assert decode(second)["seq"] == 2
    [events] = drain(outbox)
    assert events["type"] == "events"
    assert events["seq"] == 3
    assert (events["from"], events["to"]) == ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.000100Z")
    assert "conflated" not in events
    assert outbox.next_message() is None


def test_one_encoded_frame_serves_every_viewer_with_its_own_seq():
    first = started()
    second = ViewerOutbox(START)
    request = second.next_message()
    second.state_message(request, StateChunk.of(START, [], chunk=1, chunks=2))
    second.state_message(request, StateChunk.of(START, [], chunk=2, chunks=2))
    shared = frame(0, 100, event(1, START + 50))
    first.push(shared)
    second.push(shared)
    one, two = first.next_message(), second.next_message()
    assert (decode(one)["seq"], decode(two)["seq"]) == (2, 3)
    # Only the numbering differs: the events were encoded once and are spliced into both.
    assert one.replace(b'"seq":2', b'"seq":3') == two
    assert bytes(shared.body) in one


def test_the_next_message_waits_for_the_state_being_streamed():
    outbox = ViewerOutbox(START)
    outbox.next_message()
    with pytest.raises(RuntimeError, match="must be finished"):
        outbox.next_message()


def test_state_chunks_must_come_in_order_and_at_the_requested_position():
    outbox = ViewerOutbox(START)
    request = outbox.next_message()
    with pytest.raises(ValueError, match="expected chunk 1"):
        outbox.state_message(request, StateChunk.of(START, [], chunk=2, chunks=2))
    with pytest.raises(ValueError, match="expected chunk 1"):
        outbox.state_message(request, StateChunk.of(START + 1, [], chunk=1, chunks=2))
    with pytest.raises(ValueError, match="numbered from 1"):
        StateChunk.of(START, [], chunk=0, chunks=2)


def test_a_frame_must_continue_where_the_last_one_ended():
    outbox = started()
    outbox.push(frame(0, 100))
    with pytest.raises(ValueError, match="does not continue"):
        outbox.push(frame(150, 200))


def test_a_viewer_that_falls_behind_gets_one_conflated_frame_with_the_latest_event_per_entity():
    outbox = started(max_frames=3)
    outbox.push(frame(0, 10, event(1, START + 1, "a", "c"), event(2, START + 2, "b", "c")))
    outbox.push(frame(10, 20, event(3, START + 11, "a", "u"), event(4, START + 12, "b", "u")))
    outbox.push(frame(20, 30, event(5, START + 21, "b", "d"), event(6, START + 22, "c", "c")))
    assert outbox.conflations == 0
    outbox.push(frame(30, 40, event(7, START + 31, "c", "d"), event(8, START + 32, "c", "c")))
    assert outbox.conflations == 1
    assert outbox.pending_frames == 1
    [merged] = drain(outbox)
    assert merged["conflated"] is True
    assert (merged["from"], merged["to"]) == ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.000040Z")
    # Latest wins; b's delete wins over its create and update; c's create after its delete is kept.
    assert [(e["entity_id"], e["op"], e["entity_state"]) for e in merged["events"]] == [
        ("a", "u", {"seq": 3}),
        ("b", "d", None),
        ("c", "c", {"seq": 8}),
    ]
    assert merged["seq"] == 2


def test_conflation_also_triggers_on_the_byte_bound():
    outbox = started(max_bytes=600)
    for n in range(10):
        outbox.push(frame(n * 10, n * 10 + 10, event(n, START + n * 10 + 1, "a")))
        assert outbox.pending_bytes <= 600
    assert outbox.conflations >= 1
    assert outbox.resyncs == 0
    messages = drain(outbox)
    assert messages[0]["conflated"] is True
    assert [m["seq"] for m in messages] == list(range(2, 2 + len(messages)))
    assert messages[-1]["events"][-1]["entity_state"] == {"seq": 9}


def test_a_conflated_frame_with_too_many_entities_is_dropped_for_a_fresh_state():
    outbox = started(max_frames=2, max_conflated_entities=2)
    outbox.push(frame(0, 10, event(1, START + 1, "a")))
    outbox.push(frame(10, 20, event(2, START + 11, "b")))
    outbox.push(frame(20, 30, event(3, START + 21, "c")))
    assert (outbox.resyncs, outbox.pending_frames, outbox.pending_bytes) == (1, 0, 0)
    request = outbox.next_message()
    assert isinstance(request, StateNeeded)
    assert request.position == START + 30
    message = outbox.state_message(request, StateChunk.of(START + 30, [], chunk=1, chunks=1))
    assert decode(message)["seq"] == 2
    outbox.push(frame(30, 40))
    assert [m["seq"] for m in drain(outbox)] == [3]


def test_a_conflated_frame_over_half_the_byte_bound_is_dropped_for_a_fresh_state():
    outbox = started(max_bytes=300)
    outbox.push(frame(0, 10, *[event(n, START + 1, f"entity-{n}") for n in range(5)]))
    assert outbox.resyncs == 1
    assert outbox.next_message().position == START + 10


def test_pending_frames_are_kept_behind_a_state_being_streamed_and_conflated_there():
    outbox = ViewerOutbox(START, max_frames=1)
    request = outbox.next_message()
    outbox.push(frame(0, 10, event(1, START + 1, "a")))
    outbox.push(frame(10, 20, event(2, START + 11, "a")))
    assert outbox.state_message(request, StateChunk.of(START, [], chunk=1, chunks=1)) is not None
    [merged] = drain(outbox)
    assert merged["conflated"] is True
    assert (merged["seq"], merged["from"]) == (2, "2023-11-14T22:13:20Z")


def test_reset_after_a_seek_drops_pending_frames_and_makes_the_streamed_state_stale():
    outbox = ViewerOutbox(START)
    request = outbox.next_message()
    outbox.push(frame(0, 10))
    outbox.reset(START + 500)
    assert outbox.state_message(request, StateChunk.of(START, [], chunk=1, chunks=1)) is None
    fresh = outbox.next_message()
    assert fresh.position == START + 500
    assert decode(outbox.state_message(fresh, StateChunk.of(START + 500, [], chunk=1, chunks=1)))["seq"] == 1
    outbox.push(frame(500, 600))
    assert [m["seq"] for m in drain(outbox)] == [2]


def seek_frame(since: int, to: int, *events) -> EncodedFrame:
    return EncodedFrame.of(Frame(from_=since, to=to, events=tuple(events), deadline=0.0), seek=True)


def test_a_near_seek_asks_for_the_diff_from_what_was_handed_out_and_numbers_it_like_a_frame():
    outbox = started(diff_seek_within_us=60 * SECOND)
    outbox.push(frame(0, 10))
    outbox.next_message()
    outbox.push(frame(10, 20))  # pending: dropped by the seek, so the diff starts where the viewer is
    outbox.seek(START - 50 * SECOND)
    request = outbox.next_message()
    assert (request.since, request.position) == (START + 10, START - 50 * SECOND)
    message = decode(outbox.seek_message(request, seek_frame(START + 10, START - 50 * SECOND, event(1, START - 60))))
    assert (message["seq"], message["seek"], len(message["events"])) == (3, True, 1)
    outbox.push(frame(-50 * SECOND, -49 * SECOND))
    assert [m["seq"] for m in drain(outbox)] == [4]
    # Chained: the next seek diffs from the target of the last one.
    outbox.seek(START)
    assert outbox.next_message().since == START - 49 * SECOND


def test_a_far_seek_or_a_viewer_without_a_complete_picture_gets_the_state():
    outbox = started(diff_seek_within_us=60 * SECOND)
    outbox.seek(START + 61 * SECOND)
    request = outbox.next_message()
    assert request.since is None
    # Part-way through that state, a near seek still needs a full state.
    outbox.seek(START + 62 * SECOND)
    assert outbox.next_message().since is None
    assert ViewerOutbox(START).next_message().since is None
    never = started(diff_seek_within_us=-1)
    never.seek(START)
    assert never.next_message().since is None


def test_a_diff_being_read_is_stale_after_another_seek_which_diffs_from_the_same_picture():
    outbox = started()
    outbox.seek(START + 5)
    request = outbox.next_message()
    outbox.seek(START + 9)
    assert outbox.seek_message(request, seek_frame(START, START + 5)) is None
    fresh = outbox.next_message()
    assert (fresh.since, fresh.position) == (START, START + 9)
    with pytest.raises(ValueError, match="expected the diff"):
        outbox.seek_message(fresh, seek_frame(START, START + 5))


def test_a_diff_answered_by_a_state_in_chunks_is_no_picture_until_its_last_chunk():
    outbox = started()
    outbox.seek(START + 5)
    request = outbox.next_message()
    assert outbox.state_message(request, StateChunk.of(START + 5, [], chunk=1, chunks=2)) is not None
    outbox.seek(START + 6)
    assert outbox.next_message().since is None


def test_a_resume_that_cannot_be_bridged_turns_a_pending_diff_into_a_state():
    outbox = started(history_frames=1)
    for n in range(3):
        outbox.push(frame(n * 10, n * 10 + 10))
        outbox.next_message()
    outbox.seek(START + 5)
    assert outbox.resume(1) is None
    request = outbox.next_message()
    assert (request.since, request.position) == (None, START + 5)


def test_resume_within_the_history_replays_the_same_messages():
    outbox = started()
    sent = []
    for n in range(4):
        outbox.push(frame(n * 10, n * 10 + 10, event(n, START + n * 10 + 1)))
        sent.append(outbox.next_message())
    assert outbox.resume(3) == sent[2:]
    assert outbox.resume(outbox.last_seq) == []
    outbox.push(frame(40, 50))
    assert [m["seq"] for m in drain(outbox)] == [6]


def test_resume_older_than_the_history_sends_a_fresh_state_numbered_after_the_client_seq():
    outbox = started(history_frames=2)
    for n in range(5):
        outbox.push(frame(n * 10, n * 10 + 10))
        outbox.next_message()
    outbox.push(frame(50, 60))
    assert outbox.resume(2) is None
    assert outbox.resyncs == 1
    request = outbox.next_message()
    # The state is where the viewer would be after what was handed out; the pending frame follows it.
    assert request.position == START + 50
    assert decode(outbox.state_message(request, StateChunk.of(START + 50, [], chunk=1, chunks=1)))["seq"] == 3
    assert [m["seq"] for m in drain(outbox)] == [4]


def test_resume_in_the_middle_of_a_state_restarts_the_state():
    outbox = ViewerOutbox(START)
    request = outbox.next_message()
    outbox.state_message(request, StateChunk.of(START, [], chunk=1, chunks=3))
    outbox.push(frame(0, 10))
    assert outbox.resume(1) is None
    assert outbox.state_message(request, StateChunk.of(START, [], chunk=2, chunks=3)) is None
    again = outbox.next_message()
    assert again.position == START
    assert decode(outbox.state_message(again, StateChunk.of(START, [], chunk=1, chunks=1)))["seq"] == 2
    assert [m["seq"] for m in drain(outbox)] == [3]


def test_resume_on_a_new_outbox_after_a_failover_continues_the_client_numbering():
    outbox = ViewerOutbox(START + 70)
    assert outbox.resume(0) == []
    assert outbox.resume(41) is None
    request = outbox.next_message()
    assert request.position == START + 70
    assert decode(outbox.state_message(request, StateChunk.of(START + 70, [], chunk=1, chunks=1)))["seq"] == 42


def test_resume_with_a_negative_seq_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        started().resume(-1)


@pytest.mark.parametrize("bound", ["history_frames", "history_bytes"])
def test_history_is_bounded_by_count_and_by_bytes(bound):
    frames = [frame(n * 10, n * 10 + 10, event(n, START + n * 10 + 1)) for n in range(20)]
    three_bytes = sum(f.size for f in frames[-3:])
    outbox = started(**{bound: 3 if bound == "history_frames" else three_bytes})
    for pushed in frames:
        outbox.push(pushed)
        outbox.next_message()
        assert outbox.history_bytes <= (three_bytes if bound == "history_bytes" else 10_000)
    assert len(outbox.resume(outbox.last_seq - 3)) == 3
    assert outbox.resume(outbox.last_seq - 4) is None


def test_bounds_below_one_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        ViewerOutbox(START, max_frames=0)
