/**
 * The playback WebSocket protocol (SPEC section 8) as the browser speaks it: message types, and a sans-I/O core
 * that checks frame numbering and decides what to send after a (re)connect. The socket layer (socket.ts) is the
 * only part that touches a WebSocket; this module is pure and tested with node's test runner.
 */

export const PROTOCOL_VERSION = 1;

export type PlayState = "paused" | "playing" | "ended";

/** A change event on the wire (items of `state.entities` and `events.events`). */
export interface WireEvent {
  entity_id: string;
  table_name: string;
  op: "c" | "r" | "u" | "d";
  entity_state: unknown;
  event_timestamp: string;
  /** For a viewer with a viewport: the entity came into it (a full upsert) or left it (a delete). */
  view?: "enter" | "leave";
}

export interface HelloMessage {
  type: "hello";
  session_id: string;
  protocol: number;
  state: PlayState;
  speed: number;
  position: string;
  range: { start: string; end: string };
}

export interface StateMessage {
  type: "state";
  seq: number;
  timestamp: string;
  entities: WireEvent[];
  chunk: number;
  chunks: number;
  /** With a viewport, on the last chunk: how many entities the state has, in view or not. */
  total?: number;
}

export interface EventsMessage {
  type: "events";
  seq: number;
  from: string;
  to: string;
  events: WireEvent[];
  conflated?: boolean;
  /**
   * A diff-seek: the net change from `from` (where the viewer was) to the seek target `to`, which may be earlier.
   * Applied as upserts and deletes like any frame; the clock is then set to `to` (not only moved forward).
   */
  seek?: boolean;
  /** With a viewport: how many entities exist at `to`, in view or not. */
  total?: number;
  /** A jump over a quiet stretch (a `start` with `skip_gaps`): no events, and the clock is now at `to`. */
  skipped?: boolean;
}

export interface StatusMessage {
  type: "status";
  state: PlayState;
  position: string;
  speed: number;
  reply_to?: string | number;
  /** The loop set by a `loop` command, while one is. */
  loop?: { from: string; to: string };
  /** Where playback will pause (an `until` command), while it has not got there. */
  until?: string;
  /** While the playing `start` skips stretches with no events of at least `min_s` seconds. */
  skip_gaps?: { min_s: number };
}

export interface EndedMessage {
  type: "ended";
  position: string;
}

export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
  reply_to?: string | number;
}

export type ServerMessage = HelloMessage | StateMessage | EventsMessage | StatusMessage | EndedMessage | ErrorMessage;

export type ClientMessage =
  | { type: "auth"; token: string }
  | { type: "start"; speed?: number; skip_gaps?: { min_s: number }; id?: string | number }
  | { type: "stop"; id?: string | number }
  | { type: "seek"; timestamp: string; id?: string | number }
  | { type: "speed"; speed: number; id?: string | number }
  | { type: "resume"; seq: number }
  | { type: "view"; bbox: [number, number, number, number] | null; id?: string | number }
  | { type: "step"; direction?: "forward" | "back"; by?: "frame" | "event"; id?: string | number }
  | { type: "loop"; from?: string; to?: string; id?: string | number }
  | { type: "until"; at?: string; id?: string | number };

/** Speeds the server accepts (SPEC: 0 < speed <= 1000; the engine's floor is 0.1). */
export const MIN_SPEED = 0.1;
export const MAX_SPEED = 1000;

/** Close codes after which reconnecting cannot help (the server said why). */
export const FATAL_CLOSE_CODES: ReadonlyMap<number, string> = new Map([
  [1008, "the server closed the connection: too many messages"],
  [1009, "the server closed the connection: a message was too large"],
  [4401, "not signed in, or the token expired"],
  [4403, "this session belongs to someone else"],
  [4404, "no such session"],
  [4409, "the session was terminated or went idle"],
]);

/** Whether a close with this code should be followed by a reconnect. */
export function shouldReconnect(code: number): boolean {
  return code !== 1000 && !FATAL_CLOSE_CODES.has(code);
}

/** Delay before reconnect attempt `attempt` (1-based): exponential with jitter, capped. */
export function backoffDelay(attempt: number, initialMs = 250, maxMs = 8000, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + 0.5 * random()));
}

/** What the core tells the socket layer to do with one incoming message. */
export type Decision =
  | { kind: "hello"; message: HelloMessage; send: ClientMessage[]; resuming: boolean }
  | { kind: "state"; message: StateMessage }
  | { kind: "events"; message: EventsMessage }
  | { kind: "status"; message: StatusMessage }
  | { kind: "ended"; message: EndedMessage }
  | { kind: "error"; message: ErrorMessage }
  /** Frames arrived out of order: the picture cannot be trusted; reconnect without resume for a fresh state. */
  | { kind: "gap"; expected: number; got: number }
  /** Not a message of the protocol; ignored. */
  | { kind: "ignored"; reason: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parse one text frame; null when it is not a JSON object with a known `type`. */
export function parseServerMessage(text: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(value) || typeof value["type"] !== "string") return null;
  switch (value["type"]) {
    case "hello":
    case "status":
    case "ended":
    case "error":
      return value as unknown as ServerMessage;
    case "state":
      return Array.isArray(value["entities"]) && typeof value["seq"] === "number" ? (value as unknown as StateMessage) : null;
    case "events":
      return Array.isArray(value["events"]) && typeof value["seq"] === "number" ? (value as unknown as EventsMessage) : null;
    default:
      return null;
  }
}

/**
 * The client side of a viewer's numbering: every `state` chunk and `events` frame carries `seq`, one more than
 * the last; after a reconnect the client sends `resume` with the last `seq` it applied, and the server continues
 * from there (from its history, or with a fresh state numbered after it).
 */
export class ReplayProtocol {
  /** The last `seq` applied; 0 before the first frame. */
  lastSeq = 0;
  private resumed = 0;

  /** The messages that open a connection (a browser authenticates with its first message). */
  opening(token: string): ClientMessage[] {
    return [{ type: "auth", token }];
  }

  /** Forget the numbering: the next connection starts a fresh viewer (a full state follows). */
  reset(): void {
    this.lastSeq = 0;
  }

  /** How many reconnects resumed an earlier viewer's numbering. */
  get resumes(): number {
    return this.resumed;
  }

  /** Decide what an incoming message means. Frames must be applied in the order they are decided. */
  receive(message: ServerMessage): Decision {
    switch (message.type) {
      case "hello": {
        if (message.protocol !== PROTOCOL_VERSION) {
          return { kind: "ignored", reason: `unsupported protocol ${message.protocol}` };
        }
        const resuming = this.lastSeq > 0;
        if (resuming) this.resumed += 1;
        const send: ClientMessage[] = resuming ? [{ type: "resume", seq: this.lastSeq }] : [];
        return { kind: "hello", message, send, resuming };
      }
      case "state":
      case "events": {
        const expected = this.lastSeq + 1;
        // The first frame of a fresh viewer may have any number, and so may the first chunk of a state (it replaces
        // the whole picture, so nothing before it matters); any other frame must be exactly one more.
        const restarts = this.lastSeq === 0 || (message.type === "state" && message.chunk === 1);
        if (!restarts && message.seq !== expected) {
          return { kind: "gap", expected, got: message.seq };
        }
        this.lastSeq = message.seq;
        return message.type === "state" ? { kind: "state", message } : { kind: "events", message };
      }
      case "status":
        return { kind: "status", message };
      case "ended":
        return { kind: "ended", message };
      case "error":
        return { kind: "error", message };
    }
  }
}

/**
 * The playback clock as the page shows it between server messages: the position advances at `speed` while
 * playing, from the last known position (SPEC: position = anchor + (wall - anchor_wall) * speed).
 */
export class DisplayClock {
  private anchorPosition = 0;
  private anchorWall = 0;
  state: PlayState = "paused";
  speed = 1;
  /** Upper bound of the position (the end of the range). */
  limit = Number.POSITIVE_INFINITY;

  /** Re-anchor at a position the server reported. */
  set(positionMs: number, wallMs: number, state: PlayState, speed: number): void {
    this.anchorPosition = positionMs;
    this.anchorWall = wallMs;
    this.state = state;
    this.speed = speed;
  }

  /** Move the anchor forward to a frame's `to` without going back in time (frames may lag the status). */
  advanceTo(positionMs: number, wallMs: number): void {
    if (positionMs > this.position(wallMs)) {
      this.anchorPosition = positionMs;
      this.anchorWall = wallMs;
    }
  }

  position(wallMs: number): number {
    if (this.state !== "playing") return this.anchorPosition;
    return Math.min(this.limit, this.anchorPosition + (wallMs - this.anchorWall) * this.speed);
  }
}
