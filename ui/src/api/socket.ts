/**
 * The playback WebSocket client: connects, authenticates with its first message, reconnects with backoff after
 * a drop and resumes where it left off, and hands decided messages to the page. The protocol decisions live in
 * protocol.ts; this layer only moves bytes and keeps time.
 */

import {
  type ClientMessage,
  type Decision,
  FATAL_CLOSE_CODES,
  ReplayProtocol,
  backoffDelay,
  parseServerMessage,
  shouldReconnect,
} from "./protocol.js";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

export interface ReplaySocketHandlers {
  /** A decided message; `receivedAt` is `performance.now()` when the frame arrived (before parsing). */
  onDecision(decision: Decision, receivedAt: number): void;
  /** The connection changed state; `reason` says why it closed for good. */
  onConnection(state: ConnectionState, reason?: string): void;
}

export interface ReplaySocketOptions {
  /** ws:// or wss:// URL of `/ws/replay/{session_id}`. */
  url: string;
  /** The current bearer token (read at every connect, so a refreshed token is used). */
  token: () => string | null;
  handlers: ReplaySocketHandlers;
  /** The WebSocket constructor (tests may give another). */
  WebSocketImpl?: typeof WebSocket;
}

/** The URL of a session's playback socket on this page's server. */
export function replaySocketUrl(location: { protocol: string; host: string }, sessionId: string): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/replay/${encodeURIComponent(sessionId)}`;
}

export class ReplaySocket {
  readonly protocol = new ReplayProtocol();
  private socket: WebSocket | null = null;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closedForGood = false;
  private nextId = 1;
  private readonly WebSocketImpl: typeof WebSocket;
  /** Reconnects so far (for the page's diagnostics). */
  reconnects = 0;
  state: ConnectionState = "closed";

  constructor(private readonly options: ReplaySocketOptions) {
    this.WebSocketImpl = options.WebSocketImpl ?? WebSocket;
  }

  /** Open the connection (once; later drops reconnect by themselves). */
  connect(): void {
    this.closedForGood = false;
    this.open();
  }

  /** Close for good: no reconnect. */
  close(): void {
    this.closedForGood = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= 1) socket.close(1000, "viewer left");
    this.setState("closed");
  }

  /**
   * Drop the connection as a network failure would (the server keeps the viewer for a resume). The page uses
   * it when the browser reports it went offline; tests use it to check the reconnect.
   */
  drop(): void {
    const socket = this.socket;
    if (!socket) return;
    this.detach(socket);
    socket.close(4000, "dropped by the client");
    this.scheduleReconnect();
  }

  /** Send a control command; false when not connected (the page tells the user). */
  send(message: ClientMessage): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1 || this.state !== "open") return false;
    if (message.type !== "auth" && message.type !== "resume" && message.id === undefined) {
      message = { ...message, id: this.nextId++ };
    }
    socket.send(JSON.stringify(message));
    return true;
  }

  private setState(state: ConnectionState, reason?: string): void {
    this.state = state;
    this.options.handlers.onConnection(state, reason);
  }

  private open(): void {
    const token = this.options.token();
    if (!token) {
      this.closedForGood = true;
      this.setState("closed", "not signed in");
      return;
    }
    this.setState(this.attempts === 0 ? "connecting" : "reconnecting");
    const socket = new this.WebSocketImpl(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      for (const message of this.protocol.opening(token)) socket.send(JSON.stringify(message));
    };
    socket.onmessage = (event: MessageEvent) => {
      const receivedAt = performance.now();
      if (typeof event.data !== "string") return;
      const message = parseServerMessage(event.data);
      if (message === null) return;
      const decision = this.protocol.receive(message);
      if (decision.kind === "hello") {
        this.attempts = 0;
        for (const reply of decision.send) socket.send(JSON.stringify(reply));
        this.setState("open");
      } else if (decision.kind === "gap") {
        // Never apply a frame after a gap: start over with a fresh viewer and a full state.
        this.protocol.reset();
        this.detach(socket);
        socket.close(4000, "frame numbering gap");
        this.scheduleReconnect();
      }
      this.options.handlers.onDecision(decision, receivedAt);
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closedForGood) return;
      if (!shouldReconnect(event.code)) {
        this.closedForGood = true;
        this.setState("closed", FATAL_CLOSE_CODES.get(event.code) ?? (event.reason || `closed (${event.code})`));
        return;
      }
      this.scheduleReconnect();
    };
    socket.onerror = () => {
      // A close event follows every error; reconnecting is decided there.
    };
  }

  private detach(socket: WebSocket): void {
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
    if (this.socket === socket) this.socket = null;
  }

  private scheduleReconnect(): void {
    if (this.closedForGood || this.timer !== null) return;
    this.attempts += 1;
    this.reconnects += 1;
    this.setState("reconnecting");
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.closedForGood) this.open();
    }, backoffDelay(this.attempts));
  }
}
