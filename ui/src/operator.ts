/**
 * The operator page (`/operator`), for admins: live sessions on every replica (watched read-only, terminated),
 * background jobs with their progress, users' sessions and erasure, a session's activity timeline (see
 * ui/operations.ts), sessions paged and filtered, the runtime settings with the server's validation messages, the
 * control-room replay reset, and the snapshot configuration.
 */

import "./styles/operator.css";

import {
  type AdminSettings,
  type CallOptions,
  ErrorCodes,
  MsrError,
  type SessionInfo,
  type SessionQuery,
  adminTerminateSessions,
  configureMsrClient,
  configureMsrErrorHandling,
  getActiveSessionCount,
  getCurrentReplay,
  getDevToken,
  getSettings,
  getSnapshotConfiguration,
  getUiConfig,
  listSessions,
  resetReplay,
  setSnapshotInterval,
  setSnapshotListTables,
  type SettingsChanges,
  updateSettings,
} from "./api/client.js";
import { Toaster, byId, decodeJwt, formatUtc, h } from "./ui/dom.js";
import { OperationsPanels } from "./ui/operations.js";

const TOKEN_KEY = "msr.token";

/** The settings of seed 000, in the form's order, with what each means. */
const SETTINGS: { key: keyof AdminSettings; label: string; hint: string; kind: "int" | "number" | "text" }[] = [
  { key: "max_active_sessions", label: "Max active sessions", hint: "across all users (> 0)", kind: "int" },
  { key: "max_playback_range", label: "Max playback range", hint: "days (> 0)", kind: "int" },
  { key: "data_retention_cron_expression", label: "Data retention schedule", hint: "5-field cron, e.g. 0 2 * * *", kind: "text" },
  { key: "earliest_valid_timestamp", label: "Earliest valid timestamp", hint: "RFC3339 with zone, e.g. 2024-01-15T00:00:00Z", kind: "text" },
  { key: "query_work_mem_mb", label: "Query work memory", hint: "MB (> 0)", kind: "int" },
  { key: "columnstore_compression_age_days", label: "Compression age", hint: "days (> 0)", kind: "int" },
  { key: "cagg_refresh_interval_hours", label: "Histogram refresh interval", hint: "hours (> 0)", kind: "number" },
  { key: "cagg_refresh_lag_days", label: "Histogram refresh lag", hint: "days (> 0)", kind: "int" },
];

class OperatorPage {
  private readonly toaster = new Toaster(byId("toasts"));
  private token: string | null = sessionStorage.getItem(TOKEN_KEY);
  private query: Required<Pick<SessionQuery, "page" | "size" | "sort">> & SessionQuery = { page: 1, size: 20, sort: "last_seen_at,desc", status: "ACTIVE" };
  private readonly root = byId("operator");
  private readonly selected = new Set<string>();
  private settingsLoaded: AdminSettings | null = null;
  private readonly panels = new OperationsPanels(this.toaster, () => this.token, () => void this.refreshAll());

  async start(): Promise<void> {
    configureMsrClient({ getToken: () => this.token, component: "operator" });
    configureMsrErrorHandling({ presenter: (error, context) => this.toaster.error(error, context) });
    byId("boot").remove();
    if (this.token) await this.show();
    else await this.signInForm();
  }

  private async signInForm(): Promise<void> {
    const config = await getUiConfig({ showToast: false }).catch(() => null);
    const input = h("input", { type: "password", placeholder: "Paste an admin bearer token", "data-testid": "token-input", autocomplete: "off" });
    const submit = h("button", { class: "primary", type: "submit", "data-testid": "sign-in" }, "Sign in");
    const dev = h("button", { type: "button", class: "ghost", "data-testid": "dev-token", hidden: !config?.dev_mode }, "Use development token");
    const form = h("form", { class: "signin card" }, h("h2", {}, "Sign in"), h("div", { class: "row" }, input, submit, dev));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const token = input.value.trim().replace(/^Bearer\s+/i, "");
      if (token) void this.useToken(token);
    });
    dev.addEventListener("click", () => {
      void getDevToken().then((answer) => (answer ? this.useToken(answer.token) : undefined));
    });
    this.root.replaceChildren(form);
  }

  private async useToken(token: string): Promise<void> {
    this.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    await this.show();
  }

  private signOut(): void {
    this.panels.stop();
    this.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    byId("who").replaceChildren();
    void this.signInForm();
  }

  private async show(): Promise<void> {
    const claims = this.token ? decodeJwt(this.token) : null;
    byId("who").replaceChildren(
      h("span", { class: "who-user" }, String(claims?.["sub"] ?? "")),
      h("button", { class: "ghost", "data-testid": "sign-out", onclick: () => this.signOut() }, "Sign out"),
    );
    // One call first: a non-admin or a bad token gets one clear message instead of five toasts.
    try {
      await getActiveSessionCount({ quietCodes: [ErrorCodes.FORBIDDEN] });
    } catch (error) {
      if (error instanceof MsrError && error.code === ErrorCodes.UNAUTHORIZED) {
        this.signOut();
        return;
      }
      if (error instanceof MsrError && error.code === ErrorCodes.FORBIDDEN) {
        this.root.replaceChildren(
          h("div", { class: "card", "data-testid": "forbidden" }, h("h2", {}, "Admins only"), h("p", {}, "This page needs the admin role. Sign in with an admin token.")),
        );
        return;
      }
    }
    const [live, jobs, users, activity] = this.panels.cards();
    this.root.replaceChildren(
      this.overviewCard(),
      live!,
      jobs!,
      this.sessionsCard(),
      h("div", { class: "columns" }, users!, activity!),
      h("div", { class: "columns" }, this.settingsCard(), this.snapshotCard()),
    );
    await Promise.all([this.loadOverview(), this.panels.start(), this.loadSessions(), this.loadSettings(), this.loadSnapshot()]);
  }

  // -- Overview and the control-room replay ---------------------------------------------------------------------

  private overviewCard(): HTMLElement {
    const reset = h("button", { class: "danger", "data-testid": "rnr-reset", onclick: () => void this.resetRnr() }, "Reset control-room replay");
    return h(
      "section",
      { class: "card overview" },
      h("div", { class: "stat" }, h("div", { class: "stat-value", id: "active-count", "data-testid": "active-count" }, "…"), h("div", { class: "muted" }, "active sessions")),
      h("div", { class: "stat wide" }, h("div", { id: "rnr-info", "data-testid": "rnr-info" }, "…"), h("div", { class: "muted small" }, "control-room replay of your tenant")),
      h("div", { class: "row" }, reset, h("button", { class: "ghost", onclick: () => void this.refreshAll() }, "Refresh")),
    );
  }

  private async refreshAll(): Promise<void> {
    await Promise.all([this.loadOverview(), this.panels.refresh(), this.loadSessions()]);
  }

  private async loadOverview(): Promise<void> {
    const [count, replay] = await Promise.all([
      getActiveSessionCount().catch(() => null),
      getCurrentReplay({ showToast: false }).catch(() => undefined),
    ]);
    byId("active-count").textContent = count === null ? "?" : String(count);
    const info = byId("rnr-info");
    if (replay === undefined) info.textContent = "unavailable";
    else if (replay === null) info.textContent = "none running";
    else {
      const range = replay.replay_start_timestamp && replay.replay_end_timestamp
        ? ` · ${formatUtc(Date.parse(replay.replay_start_timestamp))} → ${formatUtc(Date.parse(replay.replay_end_timestamp))} UTC`
        : "";
      info.textContent = `${replay.display_status ?? replay.status} · ${replay.id.slice(0, 8)}${range}`;
    }
  }

  private async resetRnr(): Promise<void> {
    if (!confirm("Force-end the tenant's current control-room replay? Everyone watching it is disconnected.")) return;
    try {
      await resetReplay();
    } catch {
      return;
    }
    this.toaster.show("success", "Control-room replay reset");
    await this.loadOverview();
  }

  // -- Sessions -------------------------------------------------------------------------------------------------

  private sessionsCard(): HTMLElement {
    const status = h("select", { "data-testid": "filter-status", "aria-label": "Status" },
      h("option", { value: "ACTIVE" }, "Active"), h("option", { value: "INACTIVE" }, "Inactive"), h("option", { value: "" }, "Any status"));
    status.value = this.query.status ?? "";
    const user = h("input", { placeholder: "user id", "data-testid": "filter-user", "aria-label": "User id" });
    const tenant = h("input", { placeholder: "tenant id (global admins)", "data-testid": "filter-tenant", "aria-label": "Tenant id" });
    const sort = h("select", { "data-testid": "sort", "aria-label": "Sort" },
      ...[["last_seen_at,desc", "Last seen ↓"], ["last_seen_at,asc", "Last seen ↑"], ["created_at,desc", "Created ↓"], ["created_at,asc", "Created ↑"], ["user_id,asc", "User"], ["status,asc", "Status"]].map(
        ([value, label]) => h("option", { value }, label),
      ));
    sort.value = this.query.sort;
    const size = h("select", { "data-testid": "page-size", "aria-label": "Page size" }, ...[10, 20, 50, 100, 200].map((n) => h("option", { value: String(n) }, `${n} / page`)));
    size.value = String(this.query.size);
    const apply = (): void => {
      this.query = { ...this.query, page: 1, sort: sort.value, size: Number(size.value) };
      if (status.value) this.query.status = status.value as "ACTIVE" | "INACTIVE";
      else delete this.query.status;
      if (user.value.trim()) this.query.user_id = user.value.trim();
      else delete this.query.user_id;
      if (tenant.value.trim()) this.query.tenant_id = tenant.value.trim();
      else delete this.query.tenant_id;
      void this.loadSessions();
    };
    const filters = h("form", { class: "row filters" }, status, user, tenant, sort, size, h("button", { type: "submit", "data-testid": "filter-apply" }, "Apply"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      apply();
    });
    const terminateSelected = h("button", { class: "danger", "data-testid": "terminate-selected", onclick: () => void this.terminate([...this.selected]) }, "Terminate selected");
    return h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, "Sessions"), terminateSelected),
      filters,
      h("div", { id: "sessions", "data-testid": "sessions-table" }),
      h("div", { class: "row pager", id: "pager" }),
    );
  }

  private async loadSessions(): Promise<void> {
    const host = byId("sessions");
    let page: { items: SessionInfo[]; page: { number?: number; size?: number; total_records?: number; count?: number } };
    try {
      page = await listSessions(this.query);
    } catch {
      host.replaceChildren(h("p", { class: "muted" }, "Could not load the sessions."));
      return;
    }
    this.selected.clear();
    const rows = page.items.map((session) => {
      const box = h("input", { type: "checkbox", "aria-label": `Select ${session.id}`, disabled: session.status !== "ACTIVE" });
      box.addEventListener("change", () => (box.checked ? this.selected.add(session.id) : this.selected.delete(session.id)));
      return h(
        "tr",
        { "data-testid": "session-row", "data-session-id": session.id, "data-status": session.status },
        h("td", {}, box),
        h("td", {}, h("code", { title: session.id }, session.id.slice(0, 8))),
        h("td", {}, session.user_id),
        h("td", {}, h("span", { class: `pill ${session.status.toLowerCase()}` }, session.status)),
        h("td", {}, session.last_seen_at ? formatUtc(Date.parse(session.last_seen_at)) : "—"),
        h("td", {}, formatUtc(Date.parse(session.created_at))),
        h("td", { class: "muted" }, h("code", { title: session.tenant_id }, session.tenant_id.slice(0, 8))),
        h(
          "td",
          {},
          session.status === "ACTIVE"
            ? h("button", { class: "danger small", "data-testid": "op-terminate", onclick: () => void this.terminate([session.id]) }, "Terminate")
            : null,
        ),
      );
    });
    host.replaceChildren(
      rows.length
        ? h(
            "table",
            { class: "grid" },
            h("thead", {}, h("tr", {}, ...["", "session", "user", "status", "last seen (UTC)", "created (UTC)", "tenant", ""].map((t) => h("th", {}, t)))),
            h("tbody", {}, ...rows),
          )
        : h("p", { class: "muted", "data-testid": "sessions-empty" }, "No session matches."),
    );
    const total = page.page.total_records ?? rows.length;
    const number = page.page.number ?? this.query.page;
    const pages = Math.max(1, Math.ceil(total / this.query.size));
    const prev = h("button", { class: "ghost small", "data-testid": "page-prev", disabled: number <= 1, onclick: () => this.goto(number - 1) }, "‹ Prev");
    const next = h("button", { class: "ghost small", "data-testid": "page-next", disabled: number >= pages, onclick: () => this.goto(number + 1) }, "Next ›");
    byId("pager").replaceChildren(prev, h("span", { class: "muted small", "data-testid": "page-info" }, `page ${number} of ${pages} · ${total} sessions`), next);
  }

  private goto(page: number): void {
    this.query = { ...this.query, page };
    void this.loadSessions();
  }

  private async terminate(ids: string[]): Promise<void> {
    if (ids.length === 0) {
      this.toaster.show("info", "Select sessions first");
      return;
    }
    try {
      await adminTerminateSessions(ids);
    } catch {
      return;
    }
    this.toaster.show("success", ids.length === 1 ? "Session terminated" : `${ids.length} sessions terminated`);
    await Promise.all([this.loadSessions(), this.loadOverview(), this.panels.loadLive()]);
  }

  // -- Settings -------------------------------------------------------------------------------------------------

  private settingsCard(): HTMLElement {
    const fields = SETTINGS.map(({ key, label, hint, kind }) =>
      h(
        "label",
        { class: "field" },
        h("span", { class: "field-label" }, label),
        h("input", { name: key, "data-testid": `setting-${key}`, inputmode: kind === "text" ? null : "decimal", autocomplete: "off" }),
        h("span", { class: "muted small" }, hint),
        h("span", { class: "field-error", "data-error-for": key, "data-testid": `setting-error-${key}` }),
      ),
    );
    const save = h("button", { class: "primary", type: "submit", "data-testid": "settings-save" }, "Save changes");
    const message = h("div", { class: "form-message", "data-testid": "settings-message" });
    const form = h("form", { class: "card settings", id: "settings", "data-testid": "settings-form" }, h("h2", {}, "Runtime settings"), ...fields, h("div", { class: "row" }, save, message));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.saveSettings(form, message);
    });
    return form;
  }

  private async loadSettings(): Promise<void> {
    const settings = await getSettings().catch(() => null);
    if (!settings) return;
    this.settingsLoaded = settings;
    const form = byId<HTMLFormElement>("settings");
    for (const { key } of SETTINGS) {
      const input = form.elements.namedItem(key) as HTMLInputElement | null;
      if (input) input.value = settings[key] === null ? "" : String(settings[key]);
    }
  }

  private async saveSettings(form: HTMLFormElement, message: HTMLElement): Promise<void> {
    for (const element of form.querySelectorAll<HTMLElement>("[data-error-for]")) element.textContent = "";
    form.querySelectorAll(".invalid").forEach((element) => element.classList.remove("invalid"));
    message.textContent = "";
    const changes: Record<string, unknown> = {};
    for (const { key, kind } of SETTINGS) {
      const input = form.elements.namedItem(key) as HTMLInputElement;
      const raw = input.value.trim();
      const before = this.settingsLoaded?.[key];
      if (raw === (before === null || before === undefined ? "" : String(before))) continue;
      // Numbers go as numbers when they parse; anything else goes as typed, for the server to judge and explain.
      changes[key] = kind === "text" ? raw || null : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    }
    if (Object.keys(changes).length === 0) {
      message.textContent = "Nothing changed.";
      return;
    }
    const options: CallOptions = { quietCodes: [ErrorCodes.VALIDATION_ERROR] };
    try {
      await updateSettings(changes as SettingsChanges, options);
    } catch (error) {
      if (error instanceof MsrError && error.code === ErrorCodes.VALIDATION_ERROR) {
        const field = typeof error.details?.["field"] === "string" ? error.details["field"] : null;
        const slot = field ? form.querySelector<HTMLElement>(`[data-error-for="${field}"]`) : null;
        if (slot) {
          slot.textContent = error.message;
          (form.elements.namedItem(field as string) as HTMLElement | null)?.classList.add("invalid");
        }
        message.textContent = `Not saved: ${error.message}`;
        message.className = "form-message error";
      }
      return;
    }
    message.className = "form-message ok";
    message.textContent = `Saved ${Object.keys(changes).join(", ")}. Every replica uses the change within a second.`;
    await this.loadSettings();
  }

  // -- Snapshot configuration -----------------------------------------------------------------------------------

  private snapshotCard(): HTMLElement {
    const interval = h("input", { name: "snapshot_interval", "data-testid": "snapshot-interval", placeholder: "0 * * * *" });
    const tables = h("input", { name: "list_tables", "data-testid": "snapshot-tables", placeholder: "schema.table, schema.other" });
    const intervalError = h("span", { class: "field-error", "data-testid": "snapshot-interval-error" });
    const tablesError = h("span", { class: "field-error", "data-testid": "snapshot-tables-error" });
    const saveInterval = h("button", { type: "button", "data-testid": "snapshot-interval-save" }, "Save schedule");
    const saveTables = h("button", { type: "button", "data-testid": "snapshot-tables-save" }, "Save tables");
    const updated = h("div", { class: "muted small", id: "snapshot-updated" });
    const save = async (kind: "interval" | "tables"): Promise<void> => {
      const errorSlot = kind === "interval" ? intervalError : tablesError;
      errorSlot.textContent = "";
      try {
        const options: CallOptions = { quietCodes: [ErrorCodes.VALIDATION_ERROR] };
        const config =
          kind === "interval" ? await setSnapshotInterval(interval.value.trim(), options) : await setSnapshotListTables(tables.value.trim(), options);
        this.toaster.show("success", kind === "interval" ? "Snapshot schedule saved" : "Snapshot tables saved");
        this.showSnapshot(config);
      } catch (error) {
        if (error instanceof MsrError && error.code === ErrorCodes.VALIDATION_ERROR) errorSlot.textContent = error.message;
      }
    };
    saveInterval.addEventListener("click", () => void save("interval"));
    saveTables.addEventListener("click", () => void save("tables"));
    return h(
      "section",
      { class: "card", id: "snapshot", "data-testid": "snapshot-form" },
      h("h2", {}, "Snapshots"),
      h("label", { class: "field" }, h("span", { class: "field-label" }, "Schedule"), interval, h("span", { class: "muted small" }, "5-field cron"), intervalError),
      h("div", { class: "row" }, saveInterval),
      h("label", { class: "field" }, h("span", { class: "field-label" }, "Tables"), tables, h("span", { class: "muted small" }, "schema.table, comma separated; empty: every table"), tablesError),
      h("div", { class: "row" }, saveTables),
      updated,
    );
  }

  private showSnapshot(config: { snapshot_interval: string; list_tables: string; updated_at: string | null }): void {
    (byId("snapshot").querySelector("[name=snapshot_interval]") as HTMLInputElement).value = config.snapshot_interval;
    (byId("snapshot").querySelector("[name=list_tables]") as HTMLInputElement).value = config.list_tables;
    byId("snapshot-updated").textContent = config.updated_at ? `Last changed ${formatUtc(Date.parse(config.updated_at))} UTC` : "Defaults (never changed)";
  }

  private async loadSnapshot(): Promise<void> {
    const config = await getSnapshotConfiguration().catch(() => null);
    if (config) this.showSnapshot(config);
  }
}

new OperatorPage().start().catch((error: unknown) => {
  console.error("the operator page failed to start", error);
});
