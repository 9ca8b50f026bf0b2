/** The socket layer: authenticate first, reconnect after a drop and resume, stop for good when told why. */

import assert from "node:assert/strict";
import { afterEach, beforeEach, mock, test } from "node:test";

import type { Decision } from "../src/api/protocol.js";
import { type ConnectionState, ReplaySocket, replaySocketUrl } from "../src/api/socket.js";

class FakeSocket {
  static opened: FakeSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.opened.push(this);
  }

  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }

  close(code = 1000, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  // The server's side.
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }

  receive(message: unknown): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const HELLO = { type: "hello", session_id: "s", protocol: 1, state: "playing", speed: 1, position: "p", range: { start: "a", end: "b" } };

let states: [ConnectionState, string | undefined][];
let decisions: Decision[];

function makeSocket(): ReplaySocket {
  return new ReplaySocket({
    url: "ws://h/ws/replay/s",
    token: () => "tok",
    WebSocketImpl: FakeSocket as unknown as typeof WebSocket,
    handlers: {
      onDecision: (decision) => decisions.push(decision),
      onConnection: (state, reason) => states.push([state, reason]),
    },
  });
}

beforeEach(() => {
  FakeSocket.opened = [];
  states = [];
  decisions = [];
  mock.timers.enable({ apis: ["setTimeout"] });
});

afterEach(() => {
  mock.timers.reset();
});

test("the socket URL follows the page's scheme", () => {
  assert.equal(replaySocketUrl({ protocol: "https:", host: "msr.example" }, "a b"), "wss://msr.example/ws/replay/a%20b");
  assert.equal(replaySocketUrl({ protocol: "http:", host: "127.0.0.1:8000" }, "s"), "ws://127.0.0.1:8000/ws/replay/s");
});

test("authenticates with its first message, reconnects after a drop, and resumes where it was", () => {
  const socket = makeSocket();
  socket.connect();
  const first = FakeSocket.opened[0]!;
  first.open();
  assert.deepEqual(first.sent, [{ type: "auth", token: "tok" }]);
  first.receive(HELLO);
  assert.equal(socket.state, "open");
  first.receive({ type: "state", seq: 1, timestamp: "t", entities: [], chunk: 1, chunks: 1 });
  first.receive({ type: "events", seq: 2, from: "t", to: "u", events: [] });
  assert.equal(socket.send({ type: "stop" }), true);
  assert.deepEqual(first.sent[1], { type: "stop", id: 1 });

  first.drop(1006);
  assert.equal(socket.state, "reconnecting");
  assert.equal(FakeSocket.opened.length, 1, "waits before reconnecting");
  mock.timers.tick(10_000);
  const second = FakeSocket.opened[1]!;
  second.open();
  second.receive(HELLO);
  assert.deepEqual(second.sent, [{ type: "auth", token: "tok" }, { type: "resume", seq: 2 }]);
  assert.equal(socket.reconnects, 1);
  assert.deepEqual(
    decisions.map((d) => d.kind),
    ["hello", "state", "events", "hello"],
  );
});

test("a close the server explains ends the connection for good", () => {
  const socket = makeSocket();
  socket.connect();
  const first = FakeSocket.opened[0]!;
  first.open();
  first.receive(HELLO);
  first.drop(4409, "session terminated");
  mock.timers.tick(60_000);
  assert.equal(FakeSocket.opened.length, 1);
  assert.equal(socket.state, "closed");
  assert.match(states.at(-1)?.[1] ?? "", /terminated/);
  assert.equal(socket.send({ type: "start" }), false);
});

test("a numbering gap drops the connection and starts over without resume", () => {
  const socket = makeSocket();
  socket.connect();
  const first = FakeSocket.opened[0]!;
  first.open();
  first.receive(HELLO);
  first.receive({ type: "events", seq: 4, from: "a", to: "b", events: [] });
  first.receive({ type: "events", seq: 6, from: "b", to: "c", events: [] });
  assert.equal(decisions.at(-1)?.kind, "gap");
  mock.timers.tick(10_000);
  const second = FakeSocket.opened[1]!;
  second.open();
  second.receive(HELLO);
  assert.deepEqual(second.sent, [{ type: "auth", token: "tok" }], "a fresh viewer: no resume");
  socket.close();
});
