/** The sans-I/O core of the playback protocol: numbering, resume, reconnect policy, and the display clock. */

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  DisplayClock,
  type EventsMessage,
  type HelloMessage,
  ReplayProtocol,
  type StateMessage,
  backoffDelay,
  parseServerMessage,
  shouldReconnect,
} from "../src/api/protocol.js";

const hello: HelloMessage = {
  type: "hello",
  session_id: "s",
  protocol: 1,
  state: "paused",
  speed: 1,
  position: "2024-01-01T00:00:00Z",
  range: { start: "2024-01-01T00:00:00Z", end: "2024-01-02T00:00:00Z" },
};
const state = (seq: number, chunk = 1, chunks = 1): StateMessage => ({ type: "state", seq, timestamp: "2024-01-01T00:00:00Z", entities: [], chunk, chunks });
const events = (seq: number): EventsMessage => ({ type: "events", seq, from: "a", to: "b", events: [] });

test("a browser opens with its token, and a fresh viewer sends no resume", () => {
  const protocol = new ReplayProtocol();
  assert.deepEqual(protocol.opening("tok"), [{ type: "auth", token: "tok" }]);
  const decision = protocol.receive(hello);
  assert.equal(decision.kind, "hello");
  assert.deepEqual(decision.kind === "hello" && decision.send, []);
});

test("after frames, a reconnect resumes from the last applied seq", () => {
  const protocol = new ReplayProtocol();
  protocol.receive(hello);
  for (const frame of [state(1, 1, 2), state(2, 2, 2), events(3), events(4)]) assert.notEqual(protocol.receive(frame).kind, "gap");
  const decision = protocol.receive(hello);
  assert.ok(decision.kind === "hello" && decision.resuming);
  assert.deepEqual(decision.kind === "hello" && decision.send, [{ type: "resume", seq: 4 }]);
  assert.equal(protocol.resumes, 1);
  assert.equal(protocol.receive(events(5)).kind, "events");
});

test("a frame out of order is a gap, and is not applied", () => {
  const protocol = new ReplayProtocol();
  protocol.receive(state(7));
  const decision = protocol.receive(events(9));
  assert.deepEqual(decision, { kind: "gap", expected: 8, got: 9 });
  assert.equal(protocol.lastSeq, 7);
  assert.equal(protocol.receive(state(5, 2, 2)).kind, "gap", "a later chunk cannot restart the numbering");
});

test("the first chunk of a state restarts the numbering: it replaces the whole picture", () => {
  const protocol = new ReplayProtocol();
  protocol.receive(events(3));
  assert.equal(protocol.receive(state(1)).kind, "state");
  assert.equal(protocol.lastSeq, 1);
});

test("a diff-seek frame is numbered like any frame: it does not restart the numbering", () => {
  const protocol = new ReplayProtocol();
  protocol.receive(events(3));
  assert.equal(protocol.receive({ ...events(4), seek: true }).kind, "events");
  assert.equal(protocol.receive({ ...events(6), seek: true }).kind, "gap");
});

test("unknown or malformed messages are not the protocol's", () => {
  assert.equal(parseServerMessage("not json"), null);
  assert.equal(parseServerMessage('{"type":"nope"}'), null);
  assert.equal(parseServerMessage('{"type":"events","seq":1}'), null);
  assert.deepEqual(parseServerMessage('{"type":"ended","position":"p"}'), { type: "ended", position: "p" });
});

test("reconnect after drops and server restarts, not after the server said why it closed", () => {
  for (const code of [1001, 1006, 1011, 1012, 1013, 4000]) assert.equal(shouldReconnect(code), true, String(code));
  for (const code of [1000, 1008, 1009, 4401, 4403, 4404, 4409]) assert.equal(shouldReconnect(code), false, String(code));
});

test("backoff grows exponentially with jitter and is capped", () => {
  assert.equal(backoffDelay(1, 250, 8000, () => 0.5), 250);
  assert.equal(backoffDelay(3, 250, 8000, () => 0.5), 1000);
  assert.equal(backoffDelay(20, 250, 8000, () => 0.5), 8000);
  assert.equal(backoffDelay(1, 250, 8000, () => 0), 188);
  assert.equal(backoffDelay(1, 250, 8000, () => 1), 313);
});

test("the display clock advances at its speed while playing, stops at the limit, and holds while paused", () => {
  const clock = new DisplayClock();
  clock.set(1000, 0, "playing", 10);
  assert.equal(clock.position(500), 6000);
  clock.limit = 3000;
  assert.equal(clock.position(500), 3000);
  clock.limit = Number.POSITIVE_INFINITY;
  clock.advanceTo(4000, 100);
  assert.equal(clock.position(100), 4000, "a frame ahead of the clock moves it forward");
  clock.advanceTo(1500, 200);
  assert.equal(clock.position(200), 5000, "a late frame does not move it back");
  clock.set(7000, 300, "paused", 10);
  assert.equal(clock.position(10_000), 7000);
});
