/**
 * Bookmarks on the timeline: a marker per bookmark of the shown window (click: seek there; its title shows the
 * note), and a note field with a button that bookmarks the current position. Kept on the server per user
 * (`/bookmarks`); reloaded when the window changes.
 */

import { type Bookmark, createBookmark, deleteBookmark, listBookmarks } from "../api/client.js";
import { formatUtc, h } from "./dom.js";

export interface BookmarksOptions {
  /** Where the markers go: a strip as wide as the timeline, just under it. */
  track: HTMLElement;
  /** Where the note field and the button go. */
  controls: HTMLElement;
  onSeek: (ms: number) => void;
  /** The playback position now (null when not attached). */
  position: () => number | null;
  notify: (kind: "info" | "success", title: string, text: string) => void;
}

/** Where a bookmark's marker sits along the window, 0..1; null when it is outside. */
export function markerFraction(at: number, start: number, end: number): number | null {
  if (end <= start || at < start || at > end) return null;
  return (at - start) / (end - start);
}

export class Bookmarks {
  private window: [number, number] | null = null;
  private items: Bookmark[] = [];
  private loading = 0;
  private readonly note: HTMLInputElement;

  constructor(private readonly options: BookmarksOptions) {
    this.note = h("input", {
      type: "text",
      class: "bookmark-note",
      placeholder: "Note",
      maxlength: "500",
      "data-testid": "bookmark-note",
      "aria-label": "Bookmark note",
    });
    this.note.addEventListener("keydown", (event) => {
      if (event.key === "Enter") void this.add();
    });
    const add = h(
      "button",
      { class: "ghost small", "data-testid": "bookmark-add", title: "Bookmark the current position", onclick: () => void this.add() },
      "Bookmark",
    );
    options.controls.append(this.note, add);
  }

  /** The window shown on the timeline: its bookmarks are loaded and drawn. */
  setWindow(start: number, end: number): void {
    if (this.window && this.window[0] === start && this.window[1] === end) return;
    this.window = [start, end];
    void this.reload();
  }

  async reload(): Promise<void> {
    const window = this.window;
    if (!window) return;
    const ticket = ++this.loading;
    const found = await listBookmarks(new Date(window[0]), new Date(window[1]), 1000, { showToast: false, logError: false }).catch(() => []);
    if (ticket !== this.loading) return;
    this.items = found ?? [];
    this.render();
  }

  private async add(): Promise<void> {
    const position = this.options.position();
    if (position === null) {
      this.options.notify("info", "Nothing to bookmark", "Start or attach to a session first.");
      return;
    }
    const note = this.note.value.trim();
    await createBookmark(new Date(position), note);
    this.note.value = "";
    this.options.notify("success", "Bookmarked", `${formatUtc(position)} UTC${note ? `: ${note}` : ""}`);
    await this.reload();
  }

  private render(): void {
    const window = this.window;
    const markers: HTMLElement[] = [];
    for (const bookmark of this.items) {
      const at = Date.parse(bookmark.at);
      const fraction = window ? markerFraction(at, window[0], window[1]) : null;
      if (fraction === null) continue;
      const label = `${formatUtc(at)} UTC${bookmark.note ? ` — ${bookmark.note}` : ""} (click: go there; shift-click: delete)`;
      const marker = h("button", {
        class: "bookmark-marker",
        "data-testid": "bookmark-marker",
        "data-at": bookmark.at,
        title: label,
        "aria-label": label,
      });
      marker.style.left = `${(fraction * 100).toFixed(3)}%`;
      marker.addEventListener("click", (event) => {
        if (event.shiftKey) void this.remove(bookmark);
        else this.options.onSeek(at);
      });
      markers.push(marker);
    }
    this.options.track.replaceChildren(...markers);
  }

  private async remove(bookmark: Bookmark): Promise<void> {
    await deleteBookmark(bookmark.id);
    await this.reload();
  }
}
