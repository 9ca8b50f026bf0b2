/**
 * The map page: sign in, create (or reattach to) a session, or attach to the tenant's control-room replay; then
 * play, pause, seek, change speed, choose the window, follow entities. The picture comes from the playback
 * WebSocket; the REST client does the rest.
 */

import {
  type CurrentReplay,
  ErrorCodes,
  MsrError,
  type PlaybackRange,
  type SessionInfo,
  type UiConfig,
  configureMsrClient,
  configureMsrErrorHandling,
  createSession,
  endReplay,
  getCurrentReplay,
  getDevToken,
  getGaps,
  getHistogram,
  getPlaybackRange,
  getUiConfig,
  initReplay,
  adminTerminateSessions,
  listSessions,
  setCurrentSession,
  terminateSession,
} from "../api/client.js";
import { type Decision, DisplayClock, MAX_SPEED, MIN_SPEED, type PlayState } from "../api/protocol.js";
import { type ConnectionState, ReplaySocket, replaySocketUrl } from "../api/socket.js";
import { MapView } from "../map/map.js";
import { TrailLayer } from "../map/trails.js";
import { ViewportReporter, viewportBox } from "../map/viewport.js";
import { type EntityRecord, EntityStore } from "../model/entities.js";
import { Trails } from "../model/trails.js";
import { Metrics } from "./metrics.js";
import { Bookmarks } from "./bookmarks.js";
import { Timeline } from "./timeline.js";
import { Toaster, byId, decodeJwt, formatDuration, formatUtc, fromInputValue, h, openDialog, toInputValue } from "./dom.js";

/** The speeds offered (SPEC: 0.1x to 1000x); + and - step through them. */
export const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

/** Skipping quiet time jumps stretches with no events of at least this many seconds; the timeline shades them. */
export const SKIP_GAPS_MIN_S = 60;

/** The first state zooms the map to the data, but not closer than a city (a lone entity would fill the screen). */
const AUTO_FIT_MAX_ZOOM = 11;
const TOKEN_KEY = "msr.token";
const SESSION_KEY = "msr.session";
const KNOWN_SESSIONS_KEY = "msr.knownSessions";

type SessionKind = "session" | "rnr";

interface Attached {
  id: string;
  kind: SessionKind;
}

interface Claims {
  user: string;
  tenant: string;
  admin: boolean;
}

function claimsOf(token: string): Claims | null {
  const claims = decodeJwt(token);
  if (!claims) return null;
  const roles = claims["roles"];
  const roleList = Array.isArray(roles) ? roles.map(String) : typeof roles === "string" ? roles.split(/\s+/) : [];
  return {
    user: String(claims["sub"] ?? "?"),
    tenant: String(claims["tenant_id"] ?? "?"),
    admin: roleList.includes("admin"),
  };
}

const ICONS = {
  play: "M6 4l14 8-14 8z",
  pause: "M6 4h4v16H6zM14 4h4v16h-4z",
  back: "M11 6v12L3 12zM20 6v12l-8-6z",
  forward: "M13 6v12l8-6zM4 6v12l8-6z",
  frameBack: "M6 5h3v14H6zM20 5v14l-10-7z",
  frameForward: "M15 5h3v14h-3zM4 5v14l10-7z",
  loop: "M7 7h10v3l4-4-4-4v3H5v6h2zM17 17H7v-3l-4 4 4 4v-3h12v-6h-2z",
};

function icon(path: string): SVGSVGElement {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
  shape.setAttribute("d", path);
  shape.setAttribute("fill", "currentColor");
  svg.append(shape);
  return svg;
}

function speedLabel(speed: number): string {
  return `${speed < 1 ? speed.toString().replace(/^0/, "") : speed}×`;
}

export class App {
  readonly store = new EntityStore();
  readonly metrics = new Metrics();
  private readonly toaster: Toaster;
  private map!: MapView;
  private readonly trails = new Trails({ lengthMs: 5 * 60_000 });
  private trailLayer!: TrailLayer;
  private timeline!: Timeline;
  private bookmarks!: Bookmarks;
  private config: UiConfig = { tile_url: null, dev_mode: false, frame_interval_ms: 100 };
  private token: string | null = null;
  private claims: Claims | null = null;
  private range: PlaybackRange | null = null;
  private attached: Attached | null = null;
  private socket: ReplaySocket | null = null;
  private connection: ConnectionState = "closed";
  private readonly clock = new DisplayClock();
  private playState: PlayState = "paused";
  private serverRange: [number, number] | null = null;
  /** The session range as the server wrote it (microseconds): the edges are sent back exactly. */
  private serverRangeText: [string, string] | null = null;
  private windowRange: [number, number] | null = null;
  private endOfWindow = false;
  /** The loop and the until the server reported (ms), shown on the timeline. */
  private loopRange: [number, number] | null = null;
  private untilAt: number | null = null;
  /** Whether play skips quiet stretches (the toggle; K). */
  private skipGaps = false;
  private fittedOnce = false;
  /** A state was asked for (attach, seek) and has not arrived yet. */
  private awaitingState = false;
  private shownSecond = -1;
  private shownCount = -1;
  /** How many entities exist at the picture's instant, in view or not (the server's `total`); null: all are shown. */
  private totalCount: number | null = null;
  private shownTotal = -1;
  private viewport!: ViewportReporter;
  private diagnosticsAt = 0;
  private histogramKey = "";
  private readonly el: Record<string, HTMLElement> = {};

  constructor() {
    this.toaster = new Toaster(byId("toasts"));
  }

  async start(): Promise<void> {
    configureMsrClient({ getToken: () => this.token, component: "map" });
    configureMsrErrorHandling({ presenter: (error, context) => this.toaster.error(error, context) });
    this.buildAuth();
    this.buildSide();
    this.buildPlayer();
    try {
      this.config = await getUiConfig();
    } catch {
      // Toasted already; the map still works without the server's UI configuration.
    }
    this.map = new MapView({
      container: byId("map"),
      store: this.store,
      tileUrl: this.config.tile_url,
      renderPopup: (record) => this.popupContent(record),
      onFlush: (ms, features) => this.metrics.record("flush", ms, features),
    });
    this.map.onFollowChange = (fid) => this.renderFollow(fid);
    this.viewport = new ViewportReporter(
      () => {
        const bounds = this.map.map.getBounds();
        return viewportBox(bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth());
      },
      (bbox) => this.socket?.send({ type: "view", bbox }) ?? false,
    );
    this.map.map.on("moveend", () => this.viewport.moved());
    this.trailLayer = new TrailLayer(this.map.map, this.trails, (table) => this.store.colorOf(table));
    this.installKeyboard();
    this.renderAuth();
    this.render();
    this.tick();
    byId("boot").remove();
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) await this.signIn(saved, true);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sign-in.

  private buildAuth(): void {
    const host = byId("auth");
    const input = h("input", {
      type: "password",
      id: "token-input",
      placeholder: "Paste a bearer token (JWT)",
      autocomplete: "off",
      spellcheck: "false",
      "data-testid": "token-input",
      "aria-label": "Bearer token",
    });
    const signIn = h("button", { class: "primary", "data-testid": "sign-in", type: "submit" }, "Sign in");
    const devToken = h("button", { type: "button", class: "ghost", "data-testid": "dev-token", hidden: true }, "Use development token");
    const form = h("form", { class: "signin", "data-testid": "signin-form" }, input, signIn, devToken);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = input.value.trim().replace(/^Bearer\s+/i, "");
      if (!value) {
        this.toaster.show("info", "Paste a token first", "Tokens come from your identity provider, or `msr token` in development.");
        return;
      }
      void this.signIn(value, false);
    });
    devToken.addEventListener("click", () => void this.signInWithDevToken());
    const who = h("div", { class: "who", "data-testid": "who", hidden: true });
    host.append(form, who);
    this.el["signinForm"] = form;
    this.el["tokenInput"] = input;
    this.el["devToken"] = devToken;
    this.el["who"] = who;
  }

  private renderAuth(): void {
    const signedIn = this.token !== null;
    this.el["signinForm"]!.hidden = signedIn;
    this.el["devToken"]!.hidden = !this.config.dev_mode;
    const who = this.el["who"]!;
    who.hidden = !signedIn;
    who.replaceChildren();
    if (signedIn && this.claims) {
      who.append(h("span", { class: "who-user", title: `user ${this.claims.user}, tenant ${this.claims.tenant}` }, this.claims.user));
      if (this.claims.admin) {
        who.append(h("span", { class: "badge" }, "admin"), h("a", { href: "/operator", class: "link", "data-testid": "operator-link" }, "Operator"));
      }
      who.append(h("button", { class: "ghost", "data-testid": "sign-out", onclick: () => this.signOut() }, "Sign out"));
    }
  }

  private async signInWithDevToken(): Promise<void> {
    const answer = await getDevToken().catch(() => null);
    if (!answer) {
      this.toaster.show("info", "No development token", "The server offers one only in development mode, to this machine.");
      return;
    }
    await this.signIn(answer.token, false);
  }

  private async signIn(token: string, silent: boolean): Promise<void> {
    this.token = token;
    this.claims = claimsOf(token);
    let range: PlaybackRange;
    try {
      range = await getPlaybackRange({ showToast: !silent });
    } catch (error) {
      this.token = null;
      this.claims = null;
      sessionStorage.removeItem(TOKEN_KEY);
      this.renderAuth();
      this.render();
      if (silent && error instanceof MsrError && error.code === ErrorCodes.UNAUTHORIZED) {
        this.toaster.show("info", "Signed out", "The saved token is no longer accepted; sign in again.");
      }
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    (this.el["tokenInput"] as HTMLInputElement).value = "";
    this.range = range;
    this.setWindow(Date.parse(range.startDate), Date.parse(range.endDate), false);
    this.renderAuth();
    this.render();
    const saved = sessionStorage.getItem(SESSION_KEY);
    if (saved) {
      try {
        const previous = JSON.parse(saved) as Attached;
        if (previous.id && (previous.kind === "session" || previous.kind === "rnr")) this.attach(previous.id, previous.kind);
      } catch {
        sessionStorage.removeItem(SESSION_KEY);
      }
    }
  }

  private signOut(): void {
    this.detach();
    this.token = null;
    this.claims = null;
    this.range = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
    this.renderAuth();
    this.render();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Sessions.

  private async createSessionFlow(): Promise<void> {
    let created: { sessionId: string; session: SessionInfo };
    try {
      created = await createSession({ quietCodes: [ErrorCodes.SESSION_LIMIT_REACHED] });
    } catch (error) {
      if (error instanceof MsrError && error.code === ErrorCodes.SESSION_LIMIT_REACHED) await this.limitDialog(error);
      return;
    }
    this.remember(created.sessionId);
    this.toaster.show("success", "Session created", `Session ${created.sessionId.slice(0, 8)} starts paused at the start of the range.`);
    this.attach(created.sessionId, "session");
  }

  private knownSessions(): string[] {
    try {
      const list: unknown = JSON.parse(localStorage.getItem(KNOWN_SESSIONS_KEY) ?? "[]");
      return Array.isArray(list) ? list.filter((item): item is string => typeof item === "string") : [];
    } catch {
      return [];
    }
  }

  private remember(sessionId: string): void {
    const list = [sessionId, ...this.knownSessions().filter((id) => id !== sessionId)].slice(0, 20);
    localStorage.setItem(KNOWN_SESSIONS_KEY, JSON.stringify(list));
  }

  private forget(sessionId: string): void {
    localStorage.setItem(KNOWN_SESSIONS_KEY, JSON.stringify(this.knownSessions().filter((id) => id !== sessionId)));
  }

  /** SESSION_LIMIT_REACHED: list the sessions the user may terminate, terminate one, and try again. */
  private async limitDialog(error: MsrError): Promise<void> {
    const list = h("ul", { class: "session-list", "data-testid": "limit-sessions" });
    const note = h("p", { class: "muted" });
    const content = h(
      "div",
      {},
      h("p", {}, `${error.message}. Every active session holds one of the server's slots; terminate one to start a new one.`),
      h("p", { class: "muted small" }, `Correlation ID: ${error.correlationId}`),
      list,
      note,
    );
    const cancel = h("button", { class: "ghost", "data-testid": "limit-cancel" }, "Cancel");
    const { dialog, closed } = openDialog("Session limit reached", content, [cancel], "limit-dialog");
    cancel.addEventListener("click", () => dialog.close());
    let retry = false;

    const row = (id: string, info: SessionInfo | null, terminate: () => Promise<void>): HTMLElement => {
      const button = h("button", { class: "danger", "data-testid": "terminate-session", "data-session-id": id }, "Terminate");
      button.addEventListener("click", () => {
        button.setAttribute("disabled", "");
        void terminate()
          .then(() => {
            this.forget(id);
            retry = true;
            dialog.close();
          })
          .catch(() => button.removeAttribute("disabled"));
      });
      const mine = info === null || info.user_id === this.claims?.user;
      const detail = info
        ? `${mine ? "yours" : `user ${info.user_id}`} · created ${formatUtc(Date.parse(info.created_at))} · last seen ${
            info.last_seen_at ? formatUtc(Date.parse(info.last_seen_at)) : "—"
          }`
        : "created in this browser";
      return h("li", {}, h("div", {}, h("code", {}, id.slice(0, 8)), h("div", { class: "muted small" }, detail)), button);
    };

    let rows: HTMLElement[] = [];
    if (this.claims?.admin) {
      const page = await listSessions({ status: "ACTIVE", size: 50, sort: "last_seen_at,asc" }).catch(() => null);
      rows = (page?.items ?? []).map((info) =>
        row(info.id, info, async () => {
          if (info.user_id === this.claims?.user) await terminateSession(info.id);
          else await adminTerminateSessions([info.id]);
        }),
      );
    } else {
      rows = this.knownSessions()
        .filter((id) => id !== this.attached?.id)
        .map((id) => row(id, null, () => terminateSession(id)));
    }
    if (this.attached?.kind === "session" && !rows.some((r) => r.querySelector(`[data-session-id="${this.attached?.id}"]`))) {
      const current = this.attached.id;
      rows.unshift(row(current, null, async () => {
        await terminateSession(current);
        this.detach();
      }));
    }
    list.append(...rows);
    note.textContent = rows.length
      ? "Terminating ends that session's playback for everyone watching it."
      : "None of your sessions is known here. An operator can terminate sessions on the operator page.";
    await closed;
    if (retry) await this.createSessionFlow();
  }

  private async controlRoom(): Promise<void> {
    let current: CurrentReplay | null;
    try {
      current = await getCurrentReplay();
    } catch {
      return;
    }
    if (current) {
      this.attach(current.id, "rnr");
      return;
    }
    const [start, end] = this.windowRange ?? [Date.now() - 3600000, Date.now()];
    const confirm = h("button", { class: "primary", "data-testid": "rnr-start" }, "Start control-room replay");
    const cancel = h("button", { class: "ghost" }, "Cancel");
    const { dialog } = openDialog(
      "No control-room replay",
      h("p", {}, `No shared replay is running for your tenant. Start one for ${formatUtc(start)} to ${formatUtc(end)} UTC (the chosen window)?`),
      [cancel, confirm],
      "rnr-dialog",
    );
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      dialog.close();
      // Whole milliseconds inside the window: its start has microseconds that rounding down would put outside.
      void initReplay(new Date(Math.ceil(start) + 1), new Date(Math.floor(end))).then(
        (replay) => this.attach(replay.id, "rnr"),
        () => undefined,
      );
    });
  }

  private async endSession(): Promise<void> {
    const attached = this.attached;
    if (!attached) return;
    try {
      if (attached.kind === "rnr") await endReplay(attached.id);
      else await terminateSession(attached.id);
    } catch {
      return;
    }
    this.forget(attached.id);
    this.detach();
    this.toaster.show("info", attached.kind === "rnr" ? "Control-room replay ended" : "Session terminated");
  }

  private attach(id: string, kind: SessionKind): void {
    this.detach();
    this.attached = { id, kind };
    setCurrentSession(kind === "session" ? id : null);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(this.attached));
    this.fittedOnce = false;
    this.endOfWindow = false;
    this.awaitingState = true;
    const socket = new ReplaySocket({
      url: replaySocketUrl(location, id),
      token: () => this.token,
      handlers: {
        onDecision: (decision, receivedAt) => this.onDecision(socket, decision, receivedAt),
        onConnection: (state, reason) => this.onConnection(socket, state, reason),
      },
    });
    this.socket = socket;
    socket.connect();
    this.render();
  }

  private detach(): void {
    this.socket?.close();
    this.socket = null;
    this.attached = null;
    this.serverRange = null;
    this.serverRangeText = null;
    this.connection = "closed";
    this.playState = "paused";
    setCurrentSession(null);
    sessionStorage.removeItem(SESSION_KEY);
    this.store.clear();
    this.trails.clear();
    this.map?.select(null);
    this.map?.follow(null);
    this.map?.requestFlush();
    this.render();
  }

  // -------------------------------------------------------------------------------------------------------------
  // The playback socket.

  private onConnection(socket: ReplaySocket, state: ConnectionState, reason?: string): void {
    if (socket !== this.socket) return;
    this.connection = state;
    if (state === "closed" && reason) {
      this.toaster.show("error", "Playback connection closed", `${reason}.`, this.attached ? `Session ${this.attached.id}` : undefined);
      const attached = this.attached;
      this.socket = null;
      this.attached = null;
      sessionStorage.removeItem(SESSION_KEY);
      if (attached) this.forget(attached.id);
    }
    this.render();
  }

  private onDecision(socket: ReplaySocket, decision: Decision, receivedAt: number): void {
    if (socket !== this.socket) return;
    const now = performance.now();
    switch (decision.kind) {
      case "hello": {
        const { message } = decision;
        const start = Date.parse(message.range.start);
        const end = Date.parse(message.range.end);
        this.serverRange = [start, end];
        this.serverRangeText = [message.range.start, message.range.end];
        this.clock.limit = end;
        this.clock.set(Date.parse(message.position), now, message.state, message.speed);
        this.playState = message.state;
        if (decision.resuming) this.metrics.count("resumes");
        this.viewport.reconnected();
        const window = this.windowRange;
        if (!window || window[0] < start || window[1] > end || this.attached?.kind === "rnr") this.setWindow(start, end, true);
        else void this.loadHistogram();
        break;
      }
      case "state": {
        const { message } = decision;
        this.store.applyStateChunk(message.entities, message.chunk, message.chunks);
        if (message.chunk >= message.chunks) {
          this.totalCount = message.total ?? null;
          this.clock.set(Date.parse(message.timestamp), now, this.clock.state, this.clock.speed);
          this.metrics.count("states");
          this.trails.clear();
          this.awaitingState = false;
        }
        this.metrics.record("state", performance.now() - receivedAt, message.entities.length);
        if (!this.fittedOnce && message.chunk >= message.chunks && this.store.located > 0) {
          this.fittedOnce = true;
          requestAnimationFrame(() => this.map.fitToData(AUTO_FIT_MAX_ZOOM));
        }
        break;
      }
      case "events": {
        const { message } = decision;
        this.store.applyEvents(message.events);
        this.totalCount = message.total ?? null;
        // The answer to a new viewport (a seek frame from the position to itself) moves neither clock nor trails.
        const viewportAnswer = message.seek === true && message.from === message.to;
        // Any seek frame answers a pending seek or step, even one from the position to itself (a step forth and
        // back again before the first answer was sent nets to nothing).
        if (message.seek) this.awaitingState = false;
        if (message.skipped) {
          // A jump over a quiet stretch: nothing changed, the clock is now at `to`.
          this.clock.set(Date.parse(message.to), now, this.clock.state, this.clock.speed);
          this.metrics.count("skips");
        } else if (message.seek && !viewportAnswer) {
          // A diff-seek replaces the state a seek used to bring: the picture is now the one at `to`, and the
          // trails of before the jump are no path.
          this.clock.set(Date.parse(message.to), now, this.clock.state, this.clock.speed);
          this.metrics.count("diff seeks");
          this.trails.clear();
          this.awaitingState = false;
        } else if (!viewportAnswer) {
          if (this.trailLayer.enabled) this.trails.addEvents(message.events);
          this.clock.advanceTo(Date.parse(message.to), now);
        }
        if (message.conflated) this.metrics.count("conflated");
        this.metrics.record("events", performance.now() - receivedAt, message.events.length);
        break;
      }
      case "status": {
        const { message } = decision;
        this.clock.set(Date.parse(message.position), now, message.state, message.speed);
        if (message.state === "playing") this.endOfWindow = false;
        this.playState = message.state;
        this.showTransport(message.loop ? [Date.parse(message.loop.from), Date.parse(message.loop.to)] : null, message.until ? Date.parse(message.until) : null);
        break;
      }
      case "ended": {
        this.clock.set(Date.parse(decision.message.position), now, "ended", this.clock.speed);
        this.playState = "ended";
        this.toaster.show("info", "End of range", `Playback reached ${formatUtc(Date.parse(decision.message.position))} UTC.`);
        break;
      }
      case "error": {
        const { message } = decision;
        this.toaster.show("error", `Playback: ${message.code}`, message.message, this.attached ? `Session ${this.attached.id}` : undefined);
        break;
      }
      case "gap":
        this.metrics.count("gaps");
        console.warn(`frame numbering gap: expected ${decision.expected}, got ${decision.got}; starting over`);
        break;
      case "ignored":
        break;
    }
    this.map.requestFlush();
    this.render();
  }

  // -------------------------------------------------------------------------------------------------------------
  // Controls.

  private send(message: Parameters<ReplaySocket["send"]>[0]): boolean {
    if (this.socket?.send(message)) return true;
    this.toaster.show("info", "Not connected", this.attached ? "Waiting for the playback connection." : "Create a session or attach to the control room first.");
    return false;
  }

  private get speed(): number {
    return Number((this.el["speed"] as HTMLSelectElement).value);
  }

  play(): void {
    const window = this.windowRange;
    const position = this.clock.position(performance.now());
    if (window && (position >= window[1] - 1 || position < window[0] || this.playState === "ended")) {
      this.seek(window[0]);
    }
    this.endOfWindow = false;
    this.send(this.startMessage());
  }

  private startMessage(): { type: "start"; speed: number; skip_gaps?: { min_s: number } } {
    return this.skipGaps ? { type: "start", speed: this.speed, skip_gaps: { min_s: SKIP_GAPS_MIN_S } } : { type: "start", speed: this.speed };
  }

  /** Skip quiet stretches from now on, or play them; a playing session restarts with the new setting. */
  toggleSkipGaps(): void {
    this.skipGaps = !this.skipGaps;
    this.el["skipGaps"]?.setAttribute("aria-pressed", String(this.skipGaps));
    if (this.playState === "playing" && this.socket?.state === "open") {
      // The setting belongs to a start: stop, then start again with it.
      this.send({ type: "stop" });
      this.send(this.startMessage());
    }
  }

  pause(): void {
    this.send({ type: "stop" });
  }

  togglePlay(): void {
    if (this.playState === "playing") this.pause();
    else this.play();
  }

  setSpeed(speed: number): void {
    const clamped = Math.min(MAX_SPEED, Math.max(MIN_SPEED, speed));
    (this.el["speed"] as HTMLSelectElement).value = String(clamped);
    if (this.socket?.state === "open") this.send({ type: "speed", speed: clamped });
  }

  stepSpeed(direction: 1 | -1): void {
    const index = SPEEDS.indexOf(this.speed);
    const next = SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, (index < 0 ? 3 : index) + direction))];
    if (next !== undefined) this.setSpeed(next);
  }

  seek(ms: number): void {
    const window = this.windowRange;
    const server = this.serverRange;
    let target = ms;
    if (window) target = Math.min(window[1], Math.max(window[0], target));
    if (server) target = Math.min(server[1], Math.max(server[0], target));
    if (this.send({ type: "seek", timestamp: this.instant(target) })) {
      const state = this.playState === "ended" ? "paused" : this.playState;
      this.clock.set(target, performance.now(), state, this.clock.speed);
      this.endOfWindow = false;
      this.awaitingState = true;
    }
  }

  /** RFC3339 of an instant; the range's edges exactly as the server gave them (ms would round them outside). */
  private instant(ms: number): string {
    const [start, end] = this.serverRange ?? [Number.NaN, Number.NaN];
    const [startText, endText] = this.serverRangeText ?? ["", ""];
    if (ms <= start) return startText;
    if (ms >= end) return endText;
    return new Date(ms).toISOString();
  }

  step(direction: 1 | -1, large: boolean): void {
    const window = this.windowRange ?? this.serverRange;
    if (!window) return;
    const size = (window[1] - window[0]) / (large ? 10 : 100);
    this.seek(this.clock.position(performance.now()) + direction * size);
  }

  /** Pause and move one frame of event time (or to the next or previous event) on the server: every viewer moves. */
  stepFrame(direction: 1 | -1, byEvent: boolean): void {
    if (this.send({ type: "step", direction: direction > 0 ? "forward" : "back", by: byEvent ? "event" : "frame" })) this.awaitingState = true;
  }

  /** Loop over the window (clamped to the range), or stop looping when a loop is set. */
  toggleLoop(): void {
    if (this.loopRange) {
      this.send({ type: "loop" });
      return;
    }
    const window = this.windowRange ?? this.serverRange;
    if (!window) return;
    this.send({ type: "loop", from: this.instant(window[0]), to: this.instant(window[1]) });
  }

  /** Pause automatically at `ms` (the timeline's shift-click), or forget the until (null). */
  setUntil(ms: number | null): void {
    if (ms === null) this.send({ type: "until" });
    else this.send({ type: "until", at: this.instant(ms) });
  }

  private showTransport(loop: [number, number] | null, until: number | null): void {
    this.loopRange = loop;
    this.untilAt = until;
    this.timeline?.setTransport(loop, until);
    const button = this.el["loop"];
    if (button) button.setAttribute("aria-pressed", String(loop !== null));
    const untilChip = this.el["until"];
    if (untilChip) {
      untilChip.hidden = until === null;
      untilChip.textContent = until === null ? "" : `pause at ${formatUtc(until)} ×`;
    }
  }

  private setWindow(start: number, end: number, fromServer: boolean): void {
    this.windowRange = [start, end];
    (this.el["from"] as HTMLInputElement).value = toInputValue(start);
    (this.el["to"] as HTMLInputElement).value = toInputValue(end);
    this.timeline?.setWindow(start, end);
    this.bookmarks?.setWindow(start, end);
    if (fromServer || this.token) void this.loadHistogram();
  }

  private applyWindowInputs(): void {
    const start = fromInputValue((this.el["from"] as HTMLInputElement).value);
    const end = fromInputValue((this.el["to"] as HTMLInputElement).value);
    const bounds = this.serverRange ?? (this.range ? [Date.parse(this.range.startDate), Date.parse(this.range.endDate)] : null);
    if (Number.isNaN(start) || Number.isNaN(end) || start >= end) {
      this.toaster.show("error", "Invalid window", "Choose a start before the end (times are UTC).");
      return;
    }
    if (bounds && (start < bounds[0] - 60000 || end > bounds[1] + 60000)) {
      this.toaster.show(
        "error",
        "Window outside the playback range",
        `Choose times between ${formatUtc(bounds[0])} and ${formatUtc(bounds[1])} UTC.`,
      );
      return;
    }
    const clamped: [number, number] = bounds ? [Math.max(start, bounds[0]), Math.min(end, bounds[1])] : [start, end];
    this.setWindow(clamped[0], clamped[1], false);
    const position = this.clock.position(performance.now());
    if (this.attached && (position < clamped[0] || position > clamped[1])) this.seek(clamped[0]);
  }

  private presetWindow(hours: number | null): void {
    const bounds = this.serverRange ?? (this.range ? [Date.parse(this.range.startDate), Date.parse(this.range.endDate)] : null);
    if (!bounds) return;
    const start = hours === null ? bounds[0] : Math.max(bounds[0], bounds[1] - hours * 3600000);
    (this.el["from"] as HTMLInputElement).value = toInputValue(start);
    (this.el["to"] as HTMLInputElement).value = toInputValue(bounds[1]);
    this.applyWindowInputs();
  }

  private async loadHistogram(): Promise<void> {
    const window = this.windowRange;
    if (!window || !this.token) return;
    const key = `${window[0]}-${window[1]}`;
    if (key === this.histogramKey) return;
    this.histogramKey = key;
    // Whole milliseconds inside the window: the range's edges have microseconds the histogram would refuse.
    const histogram = await getHistogram(new Date(Math.ceil(window[0]) + 1), new Date(Math.floor(window[1])), undefined, { showToast: false, logError: false }).catch(
      () => null,
    );
    if (key !== this.histogramKey) return;
    this.timeline.setHistogram(histogram);
    this.el["histogramNote"]!.hidden = histogram !== null;
    const gaps = await getGaps(new Date(Math.ceil(window[0]) + 1), new Date(Math.floor(window[1])), SKIP_GAPS_MIN_S, { showToast: false, logError: false }).catch(() => null);
    if (key !== this.histogramKey) return;
    this.timeline.setGaps((gaps?.gaps ?? []).map((gap) => [Date.parse(gap.from), Date.parse(gap.to)]));
  }

  private installKeyboard(): void {
    document.addEventListener("keydown", (event) => {
      const target = event.target as HTMLElement | null;
      if (target && (target.closest("input, select, textarea, dialog") || target.isContentEditable)) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      switch (event.key) {
        case " ":
          event.preventDefault();
          this.togglePlay();
          break;
        case "ArrowLeft":
          event.preventDefault();
          this.step(-1, event.shiftKey);
          break;
        case "ArrowRight":
          event.preventDefault();
          this.step(1, event.shiftKey);
          break;
        case "+":
        case "=":
          this.stepSpeed(1);
          break;
        case "-":
        case "_":
          this.stepSpeed(-1);
          break;
        case "f":
          this.map.fitToData();
          break;
        case ",":
        case "<":
          this.stepFrame(-1, event.key === "<");
          break;
        case ".":
        case ">":
          this.stepFrame(1, event.key === ">");
          break;
        case "l":
        case "L":
          this.toggleLoop();
          break;
        case "k":
        case "K":
          this.toggleSkipGaps();
          break;
        case "u":
        case "U":
          if (this.untilAt !== null) this.setUntil(null);
          break;
        case "Escape":
          this.map.follow(null);
          this.map.select(null);
          break;
      }
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Layout.

  private buildSide(): void {
    const side = byId("side");
    const sessionInfo = h("div", { class: "session-info", "data-testid": "session-info" });
    const create = h("button", { class: "primary", "data-testid": "session-create", onclick: () => void this.createSessionFlow() }, "New session");
    const controlRoom = h(
      "button",
      { "data-testid": "control-room", title: "Watch the tenant's shared record-and-replay playback", onclick: () => void this.controlRoom() },
      "Control room",
    );
    const end = h("button", { class: "danger ghost", "data-testid": "session-end", onclick: () => void this.endSession() }, "End");
    const legend = h("ul", { class: "legend", "data-testid": "legend" });
    const fit = h("button", { "data-testid": "fit", title: "Fit the map to the data (F)", onclick: () => this.map.fitToData() }, "Fit to data");
    const follow = h("button", { "data-testid": "follow", title: "Follow the selected entity", onclick: () => this.toggleFollow() }, "Follow selected");
    const diagnostics = h("dl", { class: "diagnostics", "data-testid": "diagnostics" });
    const trailToggle = h("input", { type: "checkbox", "data-testid": "trails-toggle" });
    const trailLength = h("select", { "data-testid": "trails-minutes", "aria-label": "Trail length" });
    for (const minutes of [1, 5, 15, 60]) trailLength.append(h("option", { value: String(minutes) }, `${minutes} min`));
    trailLength.value = "5";
    trailToggle.addEventListener("change", () => this.trailLayer.setEnabled(trailToggle.checked));
    trailLength.addEventListener("change", () => (this.trails.lengthMs = Number(trailLength.value) * 60_000));
    const trails = h("label", { class: "trails", title: "Draw where each entity was over the last minutes of playback" }, trailToggle, " Trails ", trailLength);
    side.append(
      h("section", {}, h("h3", {}, "Session"), sessionInfo, h("div", { class: "row" }, create, controlRoom, end)),
      h("section", {}, h("h3", {}, "Layers"), legend, trails, h("div", { class: "row" }, fit, follow)),
      h("details", { class: "diag", ontoggle: () => this.renderDiagnostics() }, h("summary", {}, "Diagnostics"), diagnostics),
    );
    Object.assign(this.el, { sessionInfo, create, controlRoom, end, legend, fit, follow, diagnostics });
  }

  private buildPlayer(): void {
    const player = byId("player");
    const play = h("button", { class: "icon primary", "data-testid": "play", title: "Play (space)", "aria-label": "Play", onclick: () => this.play() }, icon(ICONS.play));
    const pause = h("button", { class: "icon", "data-testid": "pause", title: "Pause (space)", "aria-label": "Pause", onclick: () => this.pause() }, icon(ICONS.pause));
    const back = h("button", { class: "icon ghost", "data-testid": "step-back", title: "Step back (←, shift for more)", "aria-label": "Step back", onclick: () => this.step(-1, false) }, icon(ICONS.back));
    const forward = h("button", { class: "icon ghost", "data-testid": "step-forward", title: "Step forward (→, shift for more)", "aria-label": "Step forward", onclick: () => this.step(1, false) }, icon(ICONS.forward));
    const frameBack = h(
      "button",
      { class: "icon ghost", "data-testid": "frame-back", title: "Pause and step one frame back (, — < to the previous event)", "aria-label": "Step one frame back", onclick: () => this.stepFrame(-1, false) },
      icon(ICONS.frameBack),
    );
    const frameForward = h(
      "button",
      { class: "icon ghost", "data-testid": "frame-forward", title: "Pause and step one frame forward (. — > to the next event)", "aria-label": "Step one frame forward", onclick: () => this.stepFrame(1, false) },
      icon(ICONS.frameForward),
    );
    const loop = h(
      "button",
      { class: "icon ghost loop", "data-testid": "loop", title: "Loop over the window (L)", "aria-label": "Loop over the window", "aria-pressed": "false", onclick: () => this.toggleLoop() },
      icon(ICONS.loop),
    );
    const skipGaps = h(
      "button",
      {
        class: "ghost small skip-gaps",
        "data-testid": "skip-gaps",
        title: `Skip quiet stretches of ${SKIP_GAPS_MIN_S} s or more, shaded on the timeline (K)`,
        "aria-pressed": "false",
        onclick: () => this.toggleSkipGaps(),
      },
      "skip quiet",
    );
    const until = h("button", { class: "ghost small until-chip", "data-testid": "until", hidden: true, title: "Forget the pause (U)", onclick: () => this.setUntil(null) });
    const speed = h("select", { "data-testid": "speed", title: "Speed (+ / -)", "aria-label": "Speed" });
    for (const value of SPEEDS) speed.append(h("option", { value: String(value) }, speedLabel(value)));
    speed.value = "1";
    speed.addEventListener("change", () => this.setSpeed(Number(speed.value)));
    const position = h("div", { class: "clock", "data-testid": "position", "aria-live": "off" }, "—");
    const status = h("div", { class: "status", "data-testid": "status", role: "status" }, "signed out");
    const count = h("span", { "data-testid": "entity-count" }, "0");
    const total = h("span", { "data-testid": "total-count" }, "0");
    const entities = h(
      "div",
      { class: "count", "data-testid": "view-count", title: "Entities in the map's view / entities in the session at this instant" },
      count,
      h("span", { class: "muted" }, " in view / "),
      total,
      h("span", { class: "muted" }, " total"),
    );
    const canvas = h("canvas", {
      class: "timeline",
      "data-testid": "seek",
      role: "slider",
      tabindex: "0",
      "aria-label": "Playback position: click or drag to seek",
    });
    const inputAttributes = { type: "text", class: "time-input", placeholder: "YYYY-MM-DD HH:MM:SS", spellcheck: "false", autocomplete: "off" };
    const from = h("input", { ...inputAttributes, "data-testid": "window-from", "aria-label": "Window start (UTC)" });
    const to = h("input", { ...inputAttributes, "data-testid": "window-to", "aria-label": "Window end (UTC)" });
    const apply = h("button", { class: "ghost", "data-testid": "window-apply", onclick: () => this.applyWindowInputs() }, "Apply");
    const presets = [
      ["1 h", 1],
      ["6 h", 6],
      ["24 h", 24],
      ["All", null],
    ] as const;
    const presetButtons = presets.map(([label, hours]) => h("button", { class: "ghost small", onclick: () => this.presetWindow(hours) }, label));
    const histogramNote = h("span", { class: "muted small", hidden: true, "data-testid": "histogram-note" }, "no histogram");
    const rangeInfo = h("span", { class: "muted small", "data-testid": "range-info" });
    const bookmarkTrack = h("div", { class: "bookmark-track", "data-testid": "bookmarks" });
    const bookmarkControls = h("span", { class: "bookmark-controls" });
    player.append(
      h(
        "div",
        { class: "player-row" },
        h("div", { class: "transport" }, back, frameBack, play, pause, frameForward, forward, loop, skipGaps, speed, until),
        h("div", { class: "clock-box" }, position, h("span", { class: "muted small" }, "UTC")),
        status,
        entities,
        h("div", { class: "window" }, h("span", { class: "muted small" }, "Window UTC"), from, h("span", { class: "muted" }, "→"), to, apply, ...presetButtons),
      ),
      canvas,
      bookmarkTrack,
      h("div", { class: "player-foot" }, rangeInfo, histogramNote, bookmarkControls, h("span", { class: "muted small keys" }, "Space play/pause · ←/→ step · ,/. frame · </> event · L loop · K skip quiet · shift-click timeline: pause there · +/− speed · F fit · Esc unfollow")),
    );
    for (const input of [from, to]) {
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") this.applyWindowInputs();
      });
    }
    Object.assign(this.el, { play, pause, back, forward, frameBack, frameForward, loop, skipGaps, until, speed, position, status, count, total, from, to, apply, histogramNote, rangeInfo });
    this.timeline = new Timeline({ canvas, onSeek: (ms) => this.seek(ms), onUntil: (ms) => this.setUntil(ms), colorOf: (table) => this.store.colorOf(table) });
    this.bookmarks = new Bookmarks({
      track: bookmarkTrack,
      controls: bookmarkControls,
      onSeek: (ms) => this.seek(ms),
      position: () => (this.attached && this.serverRange ? this.clock.position(performance.now()) : null),
      notify: (kind, title, text) => this.toaster.show(kind, title, text),
    });
    canvas.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        event.stopPropagation();
        this.step(event.key === "ArrowLeft" ? -1 : 1, event.shiftKey);
      }
    });
  }

  private toggleFollow(): void {
    if (this.map.following !== null) this.map.follow(null);
    else if (this.map.selected !== null) this.map.follow(this.map.selected);
    else this.toaster.show("info", "Select an entity first", "Click an entity on the map, then follow it.");
  }

  private renderFollow(fid: number | null): void {
    const button = this.el["follow"]!;
    button.classList.toggle("active", fid !== null);
    button.textContent = fid === null ? "Follow selected" : "Stop following";
  }

  private popupContent(record: EntityRecord): HTMLElement {
    const rows = Object.entries(record.properties)
      .filter(([, value]) => value === null || typeof value !== "object")
      .slice(0, 12)
      .map(([key, value]) => h("tr", {}, h("th", {}, key), h("td", {}, String(value))));
    const following = this.map.following === record.fid;
    const follow = h(
      "button",
      { class: following ? "active small" : "small", "data-testid": "popup-follow", onclick: () => this.map.follow(following ? null : record.fid) },
      following ? "Stop following" : "Follow",
    );
    return h(
      "div",
      { class: "popup", "data-testid": "entity-popup" },
      h("div", { class: "popup-title" }, h("span", { class: "swatch", style: `background:${this.store.colorOf(record.table)}` }), record.label),
      h("div", { class: "muted small" }, `${record.table} · ${record.kind}`),
      h("div", { class: "small" }, h("code", {}, record.entityId)),
      h("div", { class: "small" }, `last ${({ c: "created", r: "read", u: "updated", d: "deleted" } as const)[record.op]} ${formatUtc(Date.parse(record.timestamp))} UTC`),
      rows.length ? h("table", { class: "props" }, ...rows) : null,
      h("details", {}, h("summary", {}, "Full state"), h("pre", {}, JSON.stringify(record.state, null, 2))),
      h("div", { class: "row" }, follow),
    );
  }

  private statusText(): { text: string; state: string } {
    if (!this.token) return { text: "signed out", state: "signed-out" };
    if (!this.attached) return { text: "no session", state: "idle" };
    if (this.connection === "connecting") return { text: "connecting…", state: "connecting" };
    if (this.connection === "reconnecting") return { text: "reconnecting…", state: "reconnecting" };
    if (this.connection === "closed") return { text: "disconnected", state: "closed" };
    if (this.store.receivingState || this.awaitingState) return { text: "loading state…", state: "loading" };
    if (this.playState === "ended") return { text: "ended · end of range", state: "ended" };
    if (this.endOfWindow) return { text: "paused · end of window", state: "paused" };
    if (this.playState === "playing") return { text: `playing ${speedLabel(this.clock.speed)}`, state: "playing" };
    return { text: "paused", state: "paused" };
  }

  /** Update every control from the current state (cheap; called after each message). */
  private render(): void {
    const signedIn = this.token !== null;
    const open = this.connection === "open";
    const status = this.statusText();
    const statusEl = this.el["status"]!;
    if (statusEl.textContent !== status.text) statusEl.textContent = status.text;
    statusEl.dataset["state"] = status.state;
    const toggle = (name: string, enabled: boolean): void => {
      const element = this.el[name] as HTMLButtonElement | undefined;
      if (element && element.disabled === enabled) element.disabled = !enabled;
    };
    toggle("play", open && this.playState !== "playing");
    toggle("pause", open && this.playState === "playing");
    toggle("back", open);
    toggle("forward", open);
    toggle("create", signedIn);
    toggle("controlRoom", signedIn);
    toggle("end", signedIn && this.attached !== null);
    toggle("apply", signedIn);
    const info = this.el["sessionInfo"]!;
    const attached = this.attached;
    const infoText = attached
      ? `${attached.kind === "rnr" ? "Control room" : "Session"} ${attached.id.slice(0, 8)}`
      : signedIn
        ? "No session. Create one to replay, or watch the control room."
        : "Sign in to replay.";
    if (info.textContent !== infoText) info.textContent = infoText;
    info.dataset["sessionId"] = attached?.id ?? "";
    const rangeText = this.serverRange
      ? `Session range ${formatUtc(this.serverRange[0])} → ${formatUtc(this.serverRange[1])} UTC (${formatDuration(this.serverRange[1] - this.serverRange[0])})`
      : this.range
        ? `Playback range ${formatUtc(Date.parse(this.range.startDate))} → ${formatUtc(Date.parse(this.range.endDate))} UTC (max ${this.range.maxDays} days)`
        : "";
    const rangeInfo = this.el["rangeInfo"]!;
    if (rangeInfo.textContent !== rangeText) rangeInfo.textContent = rangeText;
    this.renderLegend();
    this.renderDiagnostics();
  }

  private renderLegend(): void {
    const legend = this.el["legend"]!;
    const tables = this.store.tableList();
    const signature = tables.map((t) => `${t.name}:${t.count}`).join("|");
    if (legend.dataset["signature"] === signature) return;
    legend.dataset["signature"] = signature;
    const existing = new Map([...legend.querySelectorAll<HTMLElement>("li")].map((li) => [li.dataset["table"], li]));
    legend.replaceChildren(
      ...tables.map((table) => {
        const previous = existing.get(table.name);
        const checked = previous ? (previous.querySelector("input") as HTMLInputElement).checked : true;
        const checkbox = h("input", { type: "checkbox", checked, "aria-label": `Show ${table.name}` });
        checkbox.addEventListener("change", () => this.map.setTableVisible(table.name, checkbox.checked));
        return h(
          "li",
          { "data-table": table.name },
          h("label", {}, checkbox, h("span", { class: "swatch", style: `background:${table.color}` }), h("span", { class: "table-name" }, table.name)),
          h("span", { class: "muted" }, table.count.toLocaleString("en-US")),
        );
      }),
    );
    if (tables.length === 0) legend.append(h("li", { class: "muted small" }, "No entities yet."));
  }

  private renderDiagnostics(): void {
    const element = this.el["diagnostics"]!;
    if (!element.closest("details")?.hasAttribute("open")) return;
    const summary = this.metrics.summary();
    const rows: [string, string][] = [
      ["frame apply p95", `${summary.events.p95.toFixed(2)} ms (${summary.events.count} frames)`],
      ["state apply p95", `${summary.state.p95.toFixed(2)} ms (${summary.state.count} chunks)`],
      ["map flush p95", `${summary.flush.p95.toFixed(2)} ms (every ${Math.round(this.map.flushInterval)} ms or more)`],
      ["reconnects", String(this.socket?.reconnects ?? 0)],
      ["resumes / states", `${this.metrics.counter("resumes")} / ${this.metrics.counter("states")}`],
      ["conflated frames", String(this.metrics.counter("conflated"))],
      ["diff seeks", String(this.metrics.counter("diff seeks"))],
      ["last seq", String(this.socket?.protocol.lastSeq ?? 0)],
    ];
    element.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  /** Per animation frame: the clock, the timeline marker, the entity count, the end of the window. */
  private tick(): void {
    const now = performance.now();
    this.map.onAnimationFrame(now);
    const position = this.attached && this.serverRange ? this.clock.position(now) : null;
    this.trailLayer.onAnimationFrame(now, position);
    if (position !== null) {
      const second = Math.floor(position / 1000);
      if (second !== this.shownSecond) {
        this.shownSecond = second;
        const clock = this.el["position"]!;
        clock.textContent = formatUtc(position);
        clock.dataset["ms"] = String(position);
      }
      if (!this.timeline.dragging) this.timeline.setPosition(position);
      const window = this.windowRange;
      const server = this.serverRange;
      if (
        window &&
        server &&
        this.playState === "playing" &&
        !this.endOfWindow &&
        position >= window[1] &&
        window[1] < server[1] - 1000
      ) {
        this.endOfWindow = true;
        this.pause();
        this.toaster.show("info", "End of window", `Paused at the end of the chosen window, ${formatUtc(window[1])} UTC.`);
      }
    } else if (this.shownSecond !== -1) {
      this.shownSecond = -1;
      this.el["position"]!.textContent = "—";
      this.timeline.setPosition(null);
    }
    if (now - this.diagnosticsAt > 1000) {
      this.diagnosticsAt = now;
      this.renderDiagnostics();
    }
    if (this.store.size !== this.shownCount) {
      this.shownCount = this.store.size;
      this.el["count"]!.textContent = String(this.store.size);
    }
    const total = this.totalCount ?? this.store.size;
    if (total !== this.shownTotal) {
      this.shownTotal = total;
      this.el["total"]!.textContent = String(total);
    }
    requestAnimationFrame(() => this.tick());
  }

  /** What the page exposes for diagnostics and the browser tests (`window.__msr`). */
  debugApi(): Record<string, unknown> {
    return {
      entityCount: () => this.store.size,
      trailsDrawn: () => this.trailLayer.drawn,
      sample: (limit = 20) => this.store.sample(limit),
      metrics: () => this.metrics.summary(),
      counters: () => this.metrics.counters(),
      resetMetrics: () => this.metrics.reset(),
      positionMs: () => (this.attached ? this.clock.position(performance.now()) : null),
      playState: () => this.playState,
      connection: () => this.connection,
      session: () => this.attached,
      lastSeq: () => this.socket?.protocol.lastSeq ?? 0,
      reconnects: () => this.socket?.reconnects ?? 0,
      dropConnection: () => this.socket?.drop(),
      selectFirst: () => {
        const first = this.store.sample(1)[0];
        if (!first) return null;
        const [table, ...rest] = first.key.split("/");
        const record = this.store.find(table ?? "", rest.join("/"));
        if (record) this.map.select(record.fid);
        return record?.fid ?? null;
      },
      following: () => this.map.following,
      mapReady: () => this.map.map.loaded(),
      mapInstance: () => this.map.map,
      viewport: () => ({ ...this.viewport.counts, box: this.viewport.current() }),
    };
  }
}
