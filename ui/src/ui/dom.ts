/** Small DOM helpers shared by the map page and the operator page: element building, toasts, dialogs, times. */

import type { ErrorContext, MsrError } from "../api/client.js";

type Child = Node | string | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

/** Build an element: `h("button", {class: "x", onclick: f, "data-testid": "play"}, "Play")`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.replace(/^on/, ""), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** The element with this id, which the page's HTML must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

export type ToastKind = "error" | "info" | "success";

/** Toasts in a corner: errors stay until dismissed (they carry a correlation id to quote), others fade. */
export class Toaster {
  constructor(private readonly host: HTMLElement) {}

  show(kind: ToastKind, title: string, body?: string, detail?: string): HTMLElement {
    const close = h("button", { class: "toast-close", "aria-label": "Dismiss", title: "Dismiss" }, "×");
    const toast = h(
      "div",
      { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", "data-testid": `toast-${kind}` },
      h("div", { class: "toast-title" }, title),
      body ? h("div", { class: "toast-body" }, body) : null,
      detail ? h("div", { class: "toast-detail" }, detail) : null,
      close,
    );
    close.addEventListener("click", () => toast.remove());
    this.host.append(toast);
    while (this.host.children.length > 5) this.host.firstElementChild?.remove();
    if (kind !== "error") setTimeout(() => toast.remove(), 4000);
    else setTimeout(() => toast.remove(), 30000);
    return toast;
  }

  /** The toast of an API error: its message, what to do, and the correlation id to quote. */
  error(error: MsrError, context?: ErrorContext): HTMLElement {
    const what = context ? `${humanOperation(context.operation)} failed` : "Request failed";
    const guidance = error.guidance ? ` ${error.guidance}` : "";
    const toast = this.show("error", `${what}: ${error.code}`, `${error.message}.${guidance}`, `Correlation ID: ${error.correlationId}`);
    toast.dataset["code"] = error.code;
    toast.dataset["correlationId"] = error.correlationId;
    return toast;
  }
}

function humanOperation(operation: string): string {
  const words = operation.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A modal dialog built on <dialog>; resolves when it closes. */
export function openDialog(title: string, content: HTMLElement, actions: HTMLElement[], testId: string): { dialog: HTMLDialogElement; closed: Promise<void> } {
  const dialog = h(
    "dialog",
    { class: "dialog", "data-testid": testId, "aria-label": title },
    h("h2", {}, title),
    content,
    h("div", { class: "dialog-actions" }, ...actions),
  );
  document.body.append(dialog);
  const closed = new Promise<void>((resolve) => {
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve();
    });
  });
  dialog.showModal();
  return { dialog, closed };
}

const pad = (n: number, width = 2): string => String(n).padStart(width, "0");

/** `2025-08-05 10:19:05` in UTC. */
export function formatUtc(ms: number, withSeconds = true): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "—";
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}${withSeconds ? `:${pad(d.getUTCSeconds())}` : ""}`;
  return `${date} ${time}`;
}

/** The text of a time input showing `ms` in UTC: `2025-08-05 10:19:05`. */
export function toInputValue(ms: number): string {
  return formatUtc(ms);
}

const INPUT_TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2})(:\d{2}(\.\d+)?)?\s*(Z|UTC)?$/i;

/** Milliseconds of a time input's text read as UTC (`YYYY-MM-DD HH:MM[:SS]`); NaN when empty or malformed. */
export function fromInputValue(value: string): number {
  const match = INPUT_TIME.exec(value.trim());
  if (!match) return Number.NaN;
  return Date.parse(`${match[1]}T${match[2]}${match[3] ?? ":00"}Z`);
}

/** A short human duration: `3 d 4 h`, `12 min`, `45 s`. */
export function formatDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 90) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** The claims of a JWT (not verified: for display only; the server verifies). */
export function decodeJwt(token: string): Record<string, unknown> | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""),
    );
    const claims: unknown = JSON.parse(json);
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
