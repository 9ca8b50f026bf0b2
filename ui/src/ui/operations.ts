/**
 * The control-room panels of the operator page (seed 002's operator API): live sessions on every replica, which
 * refresh by themselves and can be watched read-only or terminated; background jobs with their progress and a
 * cancel; a session's activity log as a timeline; a user's sessions and the erasure of their data.
 */

import {
  type ActivityEntry,
  type Job,
  type LiveSession,
  adminTerminateSessions,
  cancelJob,
  eraseUser,
  getLiveSessions,
  getSessionActivity,
  listJobs,
  listUserSessions,
} from "../api/client.js";
import { ReplaySocket, replaySocketUrl } from "../api/socket.js";
import { type Toaster, formatUtc, h, openDialog } from "./dom.js";

/** How often the live sessions and the jobs refresh by themselves. */
export const REFRESH_MS = 2000;

const ACTIVITY_LABELS: Record<string, string> = {
  created: "Created",
  viewer_attached: "Viewer attached",
  viewer_detached: "Viewer left",
  started: "Started",
  stopped: "Stopped",
  seeked: "Seek",
  speed_changed: "Speed",
  terminated: "Terminated",
  expired: "Expired (idle)",
  reset: "Reset",
  deleted: "Deleted",
};

const utc = (text: string | null | undefined): string => (text ? formatUtc(Date.parse(text)) : "—");
const short = (id: string | null | undefined): string => (id ? id.slice(0, 8) : "—");

export class OperationsPanels {
  private timer: ReturnType<typeof setInterval> | null = null;
  private watching: ReplaySocket | null = null;
  /** The jobs seen unfinished at the last refresh: when one ends, the other panels refresh (an erasure's effect). */
  private unfinished = new Set<string>();
  private shownUser: string | null = null;

  constructor(
    private readonly toaster: Toaster,
    private readonly token: () => string | null,
    /** Called after a change that other panels show (a terminate, an erasure). */
    private readonly changed: () => void,
  ) {}

  /** The panels, in the page's order. */
  cards(): HTMLElement[] {
    return [this.liveCard(), this.jobsCard(), this.usersCard(), this.activityCard()];
  }

  /** Load everything once, then keep live sessions and jobs fresh. */
  async start(): Promise<void> {
    this.stop();
    await this.refresh();
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.refresh();
    }, REFRESH_MS);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async refresh(): Promise<void> {
    await Promise.all([this.loadLive(), this.loadJobs()]);
  }

  // -- Live sessions --------------------------------------------------------------------------------------------

  private liveCard(): HTMLElement {
    return h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Playing now"), h("span", { class: "muted small" }, "every replica · refreshes by itself")),
      h("div", { id: "live", "data-testid": "live-sessions" }, "…"),
      h("div", { id: "watch", "data-testid": "watch-panel", hidden: true }),
    );
  }

  async loadLive(): Promise<void> {
    const live = await getLiveSessions({ showToast: false }).catch(() => undefined);
    const host = document.getElementById("live");
    if (!host) return;
    if (!live) {
      host.textContent = "unavailable";
      return;
    }
    if (live.length === 0) {
      host.replaceChildren(h("p", { class: "muted", "data-testid": "live-empty" }, "No session is playing or watched."));
      return;
    }
    host.replaceChildren(
      h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, ...["session", "kind", "state", "speed", "position (UTC)", "owner", "viewers", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...live.map((item) => this.liveRow(item))),
      ),
    );
  }

  private liveRow(item: LiveSession): HTMLElement {
    const viewers = h(
      "ul",
      { class: "viewers" },
      ...item.viewers.map((viewer) =>
        h(
          "li",
          { "data-testid": "live-viewer", "data-user": viewer.user_id },
          h("strong", {}, viewer.user_id),
          ` ${viewer.access} · ${short(viewer.replica)} · since ${utc(viewer.since)}`,
          h("span", { class: "muted small" }, ` · ${viewer.frames_behind} behind · ${viewer.conflated} conflated · ${viewer.resynced} resynced`),
        ),
      ),
    );
    return h(
      "tr",
      { "data-testid": "live-row", "data-session-id": item.session_id },
      h("td", {}, h("code", { title: item.session_id }, short(item.session_id))),
      h("td", {}, item.kind),
      h("td", {}, h("span", { class: `pill ${item.state}` }, item.state)),
      h("td", {}, `${item.speed}×`),
      h("td", { "data-testid": "live-position" }, utc(item.position)),
      h("td", {}, h("code", { title: item.owner_replica ?? "" }, short(item.owner_replica))),
      h("td", {}, viewers),
      h(
        "td",
        { class: "actions" },
        h("button", { class: "small", "data-testid": "live-watch", onclick: () => this.watch(item.session_id) }, "Watch"),
        h("button", { class: "ghost small", "data-testid": "live-activity", onclick: () => void this.showActivity(item.session_id) }, "Activity"),
        h("button", { class: "danger small", "data-testid": "live-terminate", onclick: () => void this.terminate(item.session_id) }, "Terminate"),
      ),
    );
  }

  private async terminate(sessionId: string): Promise<void> {
    if (!confirm(`Terminate session ${short(sessionId)}? Its viewers are disconnected.`)) return;
    try {
      await adminTerminateSessions([sessionId]);
    } catch {
      return;
    }
    this.toaster.show("success", "Session terminated");
    this.changed();
    await this.loadLive();
  }

  /** Attach to a session as a read-only viewer: its clock as the server plays it, no controls. */
  private watch(sessionId: string): void {
    this.watching?.close();
    const panel = document.getElementById("watch");
    if (!panel) return;
    const state = h("span", { "data-testid": "watch-state" }, "connecting");
    const position = h("span", { "data-testid": "watch-position" }, "—");
    const frames = h("span", { "data-testid": "watch-frames" }, "0");
    const close = h("button", { class: "ghost small", "data-testid": "watch-close", onclick: () => this.unwatch() }, "Stop watching");
    panel.hidden = false;
    panel.replaceChildren(
      h("div", { class: "watch" }, h("strong", {}, `Watching ${short(sessionId)} read-only: `), state, " · ", position, " UTC · frames ", frames, " ", close),
    );
    let count = 0;
    const socket = new ReplaySocket({
      url: replaySocketUrl(location, sessionId),
      token: this.token,
      handlers: {
        onConnection: (connection, reason) => {
          if (connection !== "open") state.textContent = reason ? `${connection}: ${reason}` : connection;
        },
        onDecision: (decision) => {
          switch (decision.kind) {
            case "hello":
              for (const message of decision.send) socket.send(message);
              state.textContent = decision.message.state;
              position.textContent = utc(decision.message.position);
              break;
            case "status":
              state.textContent = decision.message.state;
              position.textContent = utc(decision.message.position);
              break;
            case "state":
            case "events":
              count += 1;
              frames.textContent = String(count);
              if (decision.kind === "events") position.textContent = utc(decision.message.to);
              break;
            case "ended":
              state.textContent = "ended";
              break;
            default:
              break;
          }
        },
      },
    });
    this.watching = socket;
    socket.connect();
  }

  private unwatch(): void {
    this.watching?.close();
    this.watching = null;
    const panel = document.getElementById("watch");
    if (panel) {
      panel.hidden = true;
      panel.replaceChildren();
    }
  }

  // -- Jobs -----------------------------------------------------------------------------------------------------

  private jobsCard(): HTMLElement {
    return h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Background jobs"), h("span", { class: "muted small" }, "newest first · refreshes by itself")),
      h("div", { id: "jobs", "data-testid": "jobs" }, "…"),
    );
  }

  async loadJobs(): Promise<void> {
    const page = await listJobs({ limit: 20 }, { showToast: false }).catch(() => undefined);
    const host = document.getElementById("jobs");
    if (!host) return;
    if (!page) {
      host.textContent = "unavailable";
      return;
    }
    const unfinished = new Set(page.items.filter((job) => job.status === "scheduled" || job.status === "running").map((job) => job.id));
    const ended = [...this.unfinished].some((id) => !unfinished.has(id));
    this.unfinished = unfinished;
    if (ended) {
      this.changed();
      if (this.shownUser) void this.showUser(this.shownUser);
    }
    if (page.items.length === 0) {
      host.replaceChildren(h("p", { class: "muted" }, "No job has run yet."));
      return;
    }
    host.replaceChildren(
      h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, ...["kind", "status", "progress", "by", "started (UTC)", "ended (UTC)", "outcome", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...page.items.map((job) => this.jobRow(job))),
      ),
    );
  }

  private jobRow(job: Job): HTMLElement {
    const { done, total, fraction } = job.progress;
    const percent = Math.round(fraction * 100);
    const steps = done !== null && total !== null ? `${done}/${total}` : `${percent}%`;
    const bar = h(
      "div",
      { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(percent), "data-testid": "job-progress" },
      h("div", { class: "progress-fill", style: `width: ${percent}%` }),
    );
    const unfinished = job.status === "scheduled" || job.status === "running";
    const outcome = job.error ?? (job.result ? Object.entries(job.result).map(([key, value]) => `${key} ${String(value)}`).join(", ") : "");
    return h(
      "tr",
      { "data-testid": "job-row", "data-job-id": job.id, "data-status": job.status, "data-kind": job.kind },
      h("td", {}, job.kind),
      h("td", {}, h("span", { class: `pill ${job.status}`, "data-testid": "job-status" }, job.cancel_requested && unfinished ? "cancelling" : job.status)),
      h("td", { class: "progress-cell" }, bar, h("span", { class: "muted small" }, steps)),
      h("td", {}, job.created_by ?? "system"),
      h("td", {}, utc(job.started_at)),
      h("td", {}, utc(job.ended_at)),
      h("td", { class: "muted small" }, outcome),
      h(
        "td",
        {},
        unfinished && !job.cancel_requested
          ? h("button", { class: "danger small", "data-testid": "job-cancel", onclick: () => void this.cancel(job) }, "Cancel")
          : null,
      ),
    );
  }

  private async cancel(job: Job): Promise<void> {
    try {
      await cancelJob(job.id);
    } catch {
      return;
    }
    this.toaster.show("info", job.status === "running" ? `${job.kind} stops at its next step` : `${job.kind} cancelled`);
    await this.loadJobs();
  }

  // -- Users ----------------------------------------------------------------------------------------------------

  private usersCard(): HTMLElement {
    const input = h("input", { placeholder: "user id", "data-testid": "user-lookup", "aria-label": "User id" });
    const form = h("form", { class: "row filters" }, input, h("button", { type: "submit", "data-testid": "user-lookup-go" }, "Look up"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const user = input.value.trim();
      if (user) void this.showUser(user);
    });
    return h("section", { class: "card" }, h("h2", {}, "Users"), form, h("div", { id: "user", "data-testid": "user-panel" }));
  }

  private async showUser(userId: string): Promise<void> {
    const host = document.getElementById("user");
    if (!host) return;
    this.shownUser = userId;
    const page = await listUserSessions(userId, { size: 50 }).catch(() => undefined);
    if (!page) return;
    const erase = h("button", { class: "danger", "data-testid": "user-erase", onclick: () => void this.confirmErase(userId) }, "Erase this user's data…");
    const rows = page.items.map((session) =>
      h(
        "tr",
        { "data-testid": "user-session-row", "data-session-id": session.id },
        h("td", {}, h("code", { title: session.id }, short(session.id))),
        h("td", {}, session.kind),
        h("td", {}, h("span", { class: `pill ${session.status.toLowerCase()}` }, session.status)),
        h("td", {}, session.ended_reason ?? ""),
        h("td", {}, utc(session.created_at)),
        h("td", {}, h("button", { class: "ghost small", "data-testid": "user-session-activity", onclick: () => void this.showActivity(session.id) }, "Activity")),
      ),
    );
    host.replaceChildren(
      h("div", { class: "card-head" }, h("h3", {}, `${userId}: ${page.page.total_records ?? rows.length} sessions`), erase),
      rows.length
        ? h(
            "table",
            { class: "grid" },
            h("thead", {}, h("tr", {}, ...["session", "kind", "status", "ended", "created (UTC)", ""].map((t) => h("th", {}, t)))),
            h("tbody", {}, ...rows),
          )
        : h("p", { class: "muted", "data-testid": "user-no-sessions" }, "No session of this user."),
    );
  }

  /** Erasure is for good: the dialog names the user, and the button stays disabled until the id is typed again. */
  private async confirmErase(userId: string): Promise<void> {
    const typed = h("input", { "data-testid": "erase-confirm-input", "aria-label": "Type the user id to confirm", autocomplete: "off" });
    const go = h("button", { class: "danger", "data-testid": "erase-confirm", disabled: true }, `Erase ${userId}`);
    const cancel = h("button", { class: "ghost", "data-testid": "erase-cancel" }, "Keep");
    typed.addEventListener("input", () => (go.disabled = typed.value !== userId));
    const content = h(
      "div",
      {},
      h("p", { "data-testid": "erase-message" }, `Erase every session, activity-log entry and attribution of user “${userId}”? Their live sessions are terminated first. The tenant's recorded events stay. This cannot be undone.`),
      h("label", { class: "field" }, h("span", { class: "field-label" }, `Type ${userId} to confirm`), typed),
    );
    const { dialog } = openDialog(`Erase user ${userId}`, content, [cancel, go], "erase-dialog");
    cancel.addEventListener("click", () => dialog.close());
    go.addEventListener("click", () => {
      dialog.close();
      void this.erase(userId);
    });
  }

  private async erase(userId: string): Promise<void> {
    let job: Job;
    try {
      job = await eraseUser(userId);
    } catch {
      return;
    }
    this.toaster.show("success", `Erasure of ${userId} scheduled (job ${short(job.id)})`);
    this.changed();
    await this.loadJobs();
  }

  // -- Activity -------------------------------------------------------------------------------------------------

  private activityCard(): HTMLElement {
    const input = h("input", { placeholder: "session id", "data-testid": "activity-session", "aria-label": "Session id" });
    const form = h("form", { class: "row filters" }, input, h("button", { type: "submit", "data-testid": "activity-go" }, "Show activity"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (input.value.trim()) void this.showActivity(input.value.trim());
    });
    return h("section", { class: "card", id: "activity-card" }, h("h2", {}, "Session activity"), form, h("div", { id: "activity", "data-testid": "activity" }));
  }

  /** A session's activity log as a timeline, oldest first. */
  async showActivity(sessionId: string): Promise<void> {
    const host = document.getElementById("activity");
    if (!host) return;
    const page = await getSessionActivity(sessionId, { size: 200 }).catch(() => undefined);
    if (!page) return;
    const input = document.querySelector<HTMLInputElement>("[data-testid=activity-session]");
    if (input) input.value = sessionId;
    host.replaceChildren(
      h("div", { class: "muted small" }, `${page.page.total_records ?? page.items.length} entries for ${sessionId}`),
      h("ol", { class: "timeline", "data-testid": "timeline" }, ...page.items.map((entry) => timelineItem(entry))),
    );
    document.getElementById("activity-card")?.scrollIntoView({ block: "nearest" });
  }
}

function timelineItem(entry: ActivityEntry): HTMLElement {
  const details = Object.entries(entry.details)
    .filter(([key]) => key !== "replica")
    .map(([key, value]) => `${key}: ${key === "from" || key === "position" ? utc(String(value)) : String(value)}`)
    .join(" · ");
  return h(
    "li",
    { class: `timeline-item ${entry.type}`, "data-testid": "timeline-item", "data-type": entry.type },
    h("span", { class: "timeline-time" }, utc(entry.at)),
    h("span", { class: "timeline-what" }, ACTIVITY_LABELS[entry.type] ?? entry.type),
    h("span", { class: "timeline-who" }, entry.actor ?? "system"),
    h("span", { class: "muted small" }, [details, entry.replica ? `replica ${short(entry.replica)}` : ""].filter(Boolean).join(" · ")),
  );
}
