/**
 * The MSR API client of seed 000 ("Frontend API Client"): typed functions over the REST API, one error type
 * (MsrError) for every failure, and configurable error handling (toast, log, custom handler, rethrow).
 *
 * Every request carries a fresh `X-Correlation-ID`; replay calls carry the current session in `X-Session-ID`.
 * A failed call is reported once, centrally: logged, shown through the toast presenter the page registers, and
 * handed to the custom `onError`; then it rejects with the MsrError (unless `throwError: false`, when it resolves
 * to `undefined` instead: callers that opt out of throwing must check for it).
 */

import { MsrError, errorFromBody, networkError } from "./errors.js";
import type { components, paths } from "./schema.js";

export { ErrorCodes, MsrError } from "./errors.js";
export type { ErrorCode, MsrErrorShape } from "./errors.js";

// ---------------------------------------------------------------------------------------------------------------
// Types of the seed.

/** The playback range configuration (`GET /replay/range`). */
export interface PlaybackRange {
  /** MAX_PLAYBACK_RANGE in days. */
  maxDays: number;
  /** Earliest selectable instant (RFC3339). */
  startDate: string;
  /** Latest selectable instant (RFC3339). */
  endDate: string;
  /** EARLIEST_VALID_TIMESTAMP when configured. */
  earliestValidDate?: string;
}

/** JSON values, the type of an entity's state. */
export type JSONValue = string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

/** An entity's state (generic). */
export type EntityState<T = JSONValue> = T;

/** A change event as the backend sends it. */
export interface ChangeEvent {
  entity_id: string;
  op: "c" | "r" | "u" | "d";
  entity_state: EntityState | null;
  event_timestamp: string;
  table_name: string;
  seq?: number;
}

/** A change event as the client hands it out. */
export interface ReplayEvent {
  entityId: string;
  entityState: EntityState | null;
  operation: "create" | "read" | "update" | "delete";
  timestamp: Date;
  tableName: string;
}

/** Where an error happened (handed to `onError`). */
export interface ErrorContext {
  operation: string;
  timestamp: Date;
  sessionId?: string;
  component: string;
}

/** What the client does with an error. */
export interface ErrorHandlingOptions {
  /** Show it through the toast presenter (default true). */
  showToast?: boolean;
  /** Log it to the console (default true). */
  logError?: boolean;
  /** Reject with it (default true); false resolves the call to `undefined`. */
  throwError?: boolean;
}

/** Options of one call. */
export interface CallOptions extends ErrorHandlingOptions {
  /** Codes the caller handles itself: not toasted (still logged, still thrown). */
  quietCodes?: readonly string[];
  /** The component making the call, for the error context. */
  component?: string;
  /** Cancels the request. */
  signal?: AbortSignal;
}

export type ErrorHandler = (error: MsrError, context: ErrorContext, options: ErrorHandlingOptions) => void | Promise<void>;
export type ToastPresenter = (error: MsrError, context: ErrorContext) => void;

export interface ErrorHandlingConfig {
  onError?: ErrorHandler;
  defaultOptions?: ErrorHandlingOptions;
  /** How a toast is shown; the page registers its own (the default logs a warning). */
  presenter?: ToastPresenter;
}

/** How the client reaches the server. */
export interface ClientConfig {
  /** Base URL of the API; empty means this page's origin. */
  baseUrl: string;
  /** The bearer token of the signed-in user, or null. */
  getToken: () => string | null;
  /** The fetch implementation (tests give their own). */
  fetch: typeof fetch;
  /** Default component name of error contexts. */
  component: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration.

const DEFAULT_OPTIONS: Required<ErrorHandlingOptions> = { showToast: true, logError: true, throwError: true };

let clientConfig: ClientConfig = {
  baseUrl: "",
  getToken: () => null,
  fetch: (input, init) => globalThis.fetch(input, init),
  component: "msr",
};
let errorConfig: { onError?: ErrorHandler; defaultOptions: Required<ErrorHandlingOptions>; presenter: ToastPresenter } = {
  defaultOptions: { ...DEFAULT_OPTIONS },
  presenter: (error) => console.warn(`[${error.code}] ${error.message} (correlation id ${error.correlationId})`),
};
let currentSessionId: string | null = null;

/** Set how the client reaches the server (base URL, token source, fetch). */
export function configureMsrClient(config: Partial<ClientConfig>): void {
  clientConfig = { ...clientConfig, ...config };
}

/** Set the error handling of seed 000: a custom handler, default options, and the toast presenter. */
export function configureMsrErrorHandling(config: ErrorHandlingConfig): void {
  const next = { ...errorConfig, defaultOptions: { ...DEFAULT_OPTIONS, ...config.defaultOptions } };
  if (config.onError !== undefined) next.onError = config.onError;
  else delete next.onError;
  if (config.presenter !== undefined) next.presenter = config.presenter;
  errorConfig = next;
}

/** The session replay calls work in (`X-Session-ID`); set by createSession. */
export function setCurrentSession(sessionId: string | null): void {
  currentSessionId = sessionId;
}

export function getCurrentSession(): string | null {
  return currentSessionId;
}

// ---------------------------------------------------------------------------------------------------------------
// The request core.

type Query = Record<string, string | number | undefined | null | readonly string[]>;

// Every call names its operation as the OpenAPI document (src/api/openapi.json, `msr openapi`) does, "METHOD /path",
// and takes the document's path, query and body types: tsc fails when the document and the client drift apart.
type Method = "get" | "post" | "put" | "delete";

/** Every operation of the document, such as `"DELETE /session/{session_id}"`. */
export type Route = {
  [P in keyof paths]: { [M in Method]: [NonNullable<paths[P][M]>] extends [never] ? never : `${Uppercase<M>} ${P & string}` }[Method];
}[keyof paths];

type OperationOf<R extends Route> = R extends `${infer M} ${infer P}` ? NonNullable<paths[P & keyof paths][Lowercase<M> & Method]> : never;
type PathParamsOf<R extends Route> = OperationOf<R> extends { parameters: { path: infer P } } ? P : never;
type DocumentedQuery<R extends Route> = OperationOf<R> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;
/** The query parameters of an operation, as the document types them (an absent value may be given as undefined). */
export type QueryOf<R extends Route> = { [K in keyof DocumentedQuery<R>]?: DocumentedQuery<R>[K] | undefined | null };
/** The JSON body of an operation, as the document types it. */
export type BodyOf<R extends Route> = OperationOf<R> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
/** A model of the document's components. */
export type Schema<Name extends keyof components["schemas"]> = components["schemas"][Name];
type JsonOf<A> = A extends { content: { "application/json": infer B } } ? B : never;
/** The JSON body of an operation's success answer (200, 201 or 202), as the document types it; never for a 204. */
export type AnswerOf<R extends Route> = OperationOf<R> extends { responses: infer S } ? JsonOf<S[keyof S & (200 | 201 | 202)]> : never;
/** The `data` of an operation's success envelope. */
export type DataOf<R extends Route> = AnswerOf<R> extends { data: infer D } ? D : never;

interface OperationSpec<R extends Route> {
  operation: string;
  route: R;
  params?: PathParamsOf<R>;
  query?: QueryOf<R>;
  body?: BodyOf<R>;
  withSession?: boolean;
  /** Answer null for a 404 instead of failing (an optional endpoint). */
  optional?: boolean;
}

/** The path of a route with its parameters filled in. */
export function routePath(route: Route, params?: Readonly<Record<string, string>>): string {
  const template = route.slice(route.indexOf(" ") + 1);
  return template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params?.[name] ?? ""));
}

/** The `page` object of a paged list (seed 000's). */
export type Page = Schema<"PageInfo">;
/** The `page` object of a sortable list: also its order. */
export type SortedPage = Schema<"SortedPageInfo">;

function newCorrelationId(): string {
  const crypto = globalThis.crypto;
  if (crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return `msr-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** The URL of a path with its query (repeated keys for arrays, empty values left out). */
export function buildUrl(baseUrl: string, path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) for (const item of value) params.append(key, String(item));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return `${baseUrl.replace(/\/$/, "")}${path}${text ? `?${text}` : ""}`;
}

async function report(error: MsrError, context: ErrorContext, options: CallOptions): Promise<void> {
  const effective = { ...errorConfig.defaultOptions, ...stripUndefined(options) };
  if (effective.logError) {
    console.error(`MSR ${context.operation} failed: [${error.code}] ${error.message} (correlation id ${error.correlationId})`);
  }
  if (effective.showToast && !(options.quietCodes ?? []).includes(error.code)) {
    errorConfig.presenter(error, context);
  }
  if (errorConfig.onError) {
    try {
      await errorConfig.onError(error, context, effective);
    } catch (handlerError) {
      console.error("MSR error handler failed", handlerError);
    }
  }
}

function stripUndefined(options: ErrorHandlingOptions): ErrorHandlingOptions {
  const out: ErrorHandlingOptions = {};
  if (options.showToast !== undefined) out.showToast = options.showToast;
  if (options.logError !== undefined) out.logError = options.logError;
  if (options.throwError !== undefined) out.throwError = options.throwError;
  return out;
}

function shouldThrow(options: CallOptions): boolean {
  return options.throwError ?? errorConfig.defaultOptions.throwError;
}

/** One API call: the envelope of a 2xx answer (null for 204, or for a 404 of an optional endpoint). */
async function call<R extends Route>(spec: OperationSpec<R>, options: CallOptions = {}): Promise<AnswerOf<R> | null> {
  const correlationId = newCorrelationId();
  const headers: Record<string, string> = { Accept: "application/json", "X-Correlation-ID": correlationId };
  const token = clientConfig.getToken();
  if (token) headers["Authorization"] = `Bearer ${token}`;
  const sessionId = spec.withSession ? currentSessionId : null;
  if (sessionId) headers["X-Session-ID"] = sessionId;
  const method = spec.route.slice(0, spec.route.indexOf(" "));
  const path = routePath(spec.route, spec.params as Readonly<Record<string, string>> | undefined);
  const init: RequestInit = { method, headers };
  if (spec.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(spec.body);
  }
  if (options.signal) init.signal = options.signal;
  const context: ErrorContext = {
    operation: spec.operation,
    timestamp: new Date(),
    component: options.component ?? clientConfig.component,
  };
  if (sessionId) context.sessionId = sessionId;

  let error: MsrError;
  try {
    const response = await clientConfig.fetch(buildUrl(clientConfig.baseUrl, path, spec.query as Query | undefined), init);
    if (response.ok) {
      if (response.status === 204) return null;
      return (await response.json()) as AnswerOf<R>;
    }
    if (response.status === 404 && spec.optional) return null;
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    error = errorFromBody(response.status, body, response.headers.get("X-Correlation-ID"), correlationId);
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === "AbortError") throw cause;
    error = networkError(cause, correlationId);
  }
  await report(error, context, options);
  if (shouldThrow(options)) throw error;
  return undefined as unknown as null;
}

/** The `data` of a call's envelope (null for an optional endpoint's 404). */
async function data<R extends Route>(spec: OperationSpec<R>, options?: CallOptions): Promise<DataOf<R>> {
  const envelope = (await call(spec, options)) as { data: DataOf<R> } | null;
  return (envelope === null || envelope === undefined ? envelope : envelope.data) as DataOf<R>;
}

/** The `data` of an optional endpoint's envelope, or null when the server has no such endpoint (404). */
async function optionalData<R extends Route>(spec: OperationSpec<R>, options?: CallOptions): Promise<DataOf<R> | null> {
  return data({ ...spec, optional: true }, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Conversions.

const OPERATIONS = { c: "create", r: "read", u: "update", d: "delete" } as const;

/** A change event of a replay read: the document types `entity_state` as unknown, any JSON value of the body. */
function fromDocument(event: Schema<"ChangeEvent">): ReplayEvent {
  return toReplayEvent(event as ChangeEvent);
}

/** A backend change event as a ReplayEvent. */
export function toReplayEvent(event: ChangeEvent): ReplayEvent {
  return {
    entityId: event.entity_id,
    entityState: event.entity_state,
    operation: OPERATIONS[event.op],
    timestamp: new Date(event.event_timestamp),
    tableName: event.table_name,
  };
}

/** Filters of the replay reads (seed 000). */
export interface ReplayFilters {
  /** Restrict to these tables. */
  tables?: readonly string[];
  /** For these tables, leave out events older than `filterMinTimestamp`. */
  filterTables?: readonly string[];
  filterMinTimestamp?: Date;
}

function filterQuery(filters: ReplayFilters | undefined): Query {
  if (!filters) return {};
  return {
    tables: filters.tables?.join(","),
    filter_tables: filters.filterTables?.join(","),
    filter_min_timestamp: filters.filterMinTimestamp?.toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and replay reads (seed 000).

/** A session row as the API shows it. */
export type SessionInfo = Schema<"SessionModel">;

/** Create a new replay session; it becomes the current session. */
export async function createSession(options?: CallOptions): Promise<{ sessionId: string; session: SessionInfo }> {
  const session = await data({ operation: "create_session", route: "POST /session" }, options);
  if (!session) return session as unknown as { sessionId: string; session: SessionInfo };
  currentSessionId = session.id;
  return { sessionId: session.id, session };
}

/** Terminate one of the caller's sessions (the current session is forgotten when it is that one). */
export async function terminateSession(sessionId: string, options?: CallOptions): Promise<void> {
  await call({ operation: "terminate_session", route: "POST /session/{session_id}/terminate", params: { session_id: sessionId } }, options);
  if (currentSessionId === sessionId) currentSessionId = null;
}

/** Delete a session (owner or admin). */
export async function deleteSession(sessionId: string, options?: CallOptions): Promise<void> {
  await call({ operation: "delete_session", route: "DELETE /session/{session_id}", params: { session_id: sessionId } }, options);
  if (currentSessionId === sessionId) currentSessionId = null;
}

/** The playback range configuration. */
export async function getPlaybackRange(options?: CallOptions): Promise<PlaybackRange> {
  const raw = await data({ operation: "get_playback_range", route: "GET /replay/range" }, options);
  if (!raw) return raw as unknown as PlaybackRange;
  const range: PlaybackRange = { maxDays: raw.max_days, startDate: raw.start_date, endDate: raw.end_date };
  if (raw.earliest_valid_date) range.earliestValidDate = raw.earliest_valid_date;
  return range;
}

/** The full state at `timestamp` (now when absent), in the current session. */
export async function getInitialState(timestamp?: Date, filters?: ReplayFilters, options?: CallOptions): Promise<ReplayEvent[]> {
  const events = await data(
    {
      operation: "get_initial_state",
      route: "GET /replay/state",
      query: { timestamp: timestamp?.toISOString(), ...filterQuery(filters) },
      withSession: true,
    },
    options,
  );
  return events ? events.map(fromDocument) : events;
}

/** The change events in `(start, end]`, in order, in the current session. */
export async function getReplayEvents(start: Date, end: Date, filters?: ReplayFilters, options?: CallOptions): Promise<ReplayEvent[]> {
  const events = await data(
    {
      operation: "get_replay_events",
      route: "GET /replay/events",
      query: { start: start.toISOString(), end: end.toISOString(), ...filterQuery(filters) },
      withSession: true,
    },
    options,
  );
  return events ? events.map(fromDocument) : events;
}

/** Event counts per time bucket, per table. */
export type Histogram = Schema<"HistogramModel">;

/** The event-density histogram of `[start, end)`; null when the server has no histogram endpoint. */
export async function getHistogram(start?: Date, end?: Date, bucket?: string, options?: CallOptions): Promise<Histogram | null> {
  return optionalData(
    {
      operation: "get_histogram",
      route: "GET /replay/histogram",
      query: { start: start?.toISOString(), end: end?.toISOString(), bucket },
    },
    options,
  );
}

/** The stretches with no events of at least `min_s` seconds in `[start, end)`: what a skipping playback jumps. */
export type Gaps = Schema<"GapsModel">;

/** The quiet stretches of `[start, end)`; null when the server has no gaps endpoint. */
export async function getGaps(start: Date, end: Date, minS: number, options?: CallOptions): Promise<Gaps | null> {
  return optionalData(
    {
      operation: "get_gaps",
      route: "GET /replay/gaps",
      query: { start: start.toISOString(), end: end.toISOString(), min_s: minS },
    },
    options,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The page's own endpoints.

export type UiConfig = Schema<"UiConfig">;

/** What the page needs before sign-in (no token needed). */
export async function getUiConfig(options?: CallOptions): Promise<UiConfig> {
  return data({ operation: "get_ui_config", route: "GET /ui/config" }, options);
}

/** The development admin token (development mode, loopback only); null when the server offers none. */
export async function getDevToken(options?: CallOptions): Promise<Schema<"DevToken"> | null> {
  return optionalData({ operation: "get_dev_token", route: "GET /ui/dev-token" }, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Operators (admin).

export interface SessionQuery {
  tenant_id?: string;
  status?: "ACTIVE" | "INACTIVE";
  user_id?: string;
  page?: number;
  size?: number;
  sort?: string;
}

/** A `sort` value as the list endpoints take it: a list of `column,direction` (one here). */
function sortList(sort: string | undefined): string[] | undefined {
  return sort === undefined ? undefined : [sort];
}

/** One page of sessions (`GET /admin/sessions`). */
export async function listSessions(query: SessionQuery, options?: CallOptions): Promise<{ items: SessionInfo[]; page: SortedPage }> {
  const envelope = await call(
    { operation: "list_sessions", route: "GET /admin/sessions", query: { ...query, sort: sortList(query.sort) } },
    options,
  );
  if (!envelope) return envelope as unknown as { items: SessionInfo[]; page: SortedPage };
  return { items: envelope.data, page: envelope.page };
}

/** The number of ACTIVE sessions. */
export async function getActiveSessionCount(options?: CallOptions): Promise<number> {
  const status = await data({ operation: "get_sessions_status", route: "GET /admin/sessions/status" }, options);
  return status ? status.active_sessions : (status as unknown as number);
}

/** A viewer attached now to a live session, on some replica. */
export type LiveViewer = Schema<"LiveViewer">;

/** A session with its clock running or a viewer attached, on any replica (`GET /admin/sessions/live`). */
export type LiveSession = Schema<"LiveSessionModel">;

/** Sessions playing now; null when the server has no such endpoint. */
export async function getLiveSessions(options?: CallOptions): Promise<LiveSession[] | null> {
  return optionalData({ operation: "get_live_sessions", route: "GET /admin/sessions/live" }, options);
}

/** A background job (`GET /admin/jobs`). */
export type Job = Schema<"JobModel">;

/** Jobs newest first, one page. */
export async function listJobs(
  query: { limit?: number; page?: number; kind?: string; status?: Job["status"] },
  options?: CallOptions,
): Promise<{ items: Job[]; page: Page }> {
  const envelope = await call({ operation: "list_jobs", route: "GET /admin/jobs", query: { ...query } }, options);
  if (!envelope) return envelope as unknown as { items: Job[]; page: Page };
  return { items: envelope.data, page: envelope.page };
}

/** Cancel a job: at once when scheduled, at its next step when running. */
export async function cancelJob(jobId: string, options?: CallOptions): Promise<Job> {
  return data({ operation: "cancel_job", route: "DELETE /admin/jobs/{job_id}", params: { job_id: jobId } }, options);
}

/** Schedule the erasure of a user's data; its job. */
export async function eraseUser(userId: string, options?: CallOptions): Promise<Job> {
  return data({ operation: "erase_user", route: "DELETE /admin/users/{user_id}", params: { user_id: userId } }, options);
}

/** A user's session, with its kind, why it ended, and its playback clock. */
export type UserSession = Schema<"UserSession">;

/** One page of a user's sessions, newest first. */
export async function listUserSessions(
  userId: string,
  query: { page?: number; size?: number; sort?: string; start?: string; end?: string },
  options?: CallOptions,
): Promise<{ items: UserSession[]; page: SortedPage }> {
  const envelope = await call(
    { operation: "list_user_sessions", route: "GET /admin/users/{user_id}/sessions", params: { user_id: userId }, query: { ...query, sort: sortList(query.sort) } },
    options,
  );
  if (!envelope) return envelope as unknown as { items: UserSession[]; page: SortedPage };
  return { items: envelope.data, page: envelope.page };
}

/** One entry of a session's activity log. */
export type ActivityEntry = Schema<"ActivityEntryModel">;

/** A session's activity log, oldest first, one page. */
export async function getSessionActivity(
  sessionId: string,
  query: { page?: number; size?: number; type?: string },
  options?: CallOptions,
): Promise<{ items: ActivityEntry[]; page: Page }> {
  const envelope = await call(
    { operation: "get_session_activity", route: "GET /admin/sessions/{session_id}/events", params: { session_id: sessionId }, query: { ...query } },
    options,
  );
  if (!envelope) return envelope as unknown as { items: ActivityEntry[]; page: Page };
  return { items: envelope.data, page: envelope.page };
}

/** Terminate sessions of any user of the admin's tenant. */
export async function adminTerminateSessions(sessionIds: readonly string[], options?: CallOptions): Promise<Schema<"TerminateOutcome">> {
  return data(
    { operation: "admin_terminate_sessions", route: "POST /admin/sessions/terminate", body: { session_ids: [...sessionIds] } },
    options,
  );
}

/** The eight runtime settings of seed 000. */
export type AdminSettings = Schema<"SettingsModel">;

export async function getSettings(options?: CallOptions): Promise<AdminSettings> {
  return data({ operation: "get_settings", route: "GET /admin/settings" }, options);
}

/** The settings a `PUT /admin/settings` may change (any of them), as the document types them. */
export type SettingsChanges = BodyOf<"PUT /admin/settings">;

/** Change some settings; answers the values given. */
export async function updateSettings(changes: SettingsChanges, options?: CallOptions): Promise<Schema<"ChangedSettings">> {
  return data({ operation: "update_settings", route: "PUT /admin/settings", body: changes }, options);
}

// ---------------------------------------------------------------------------------------------------------------
// Record and replay (seed 001) and the snapshot configuration.

/** A control-room replay (seed 001). */
export type CurrentReplay = Schema<"ReplayModel">;

/** The tenant's current control-room replay; null when there is none. */
export async function getCurrentReplay(options?: CallOptions): Promise<CurrentReplay | null> {
  return optionalData({ operation: "get_current_replay", route: "GET /v1/replay/current-session" }, options);
}

/** Start a control-room replay of `[start, end]` for the caller's tenant. */
export async function initReplay(start: Date, end: Date, options?: CallOptions): Promise<CurrentReplay> {
  return data(
    {
      operation: "init_replay",
      route: "POST /v1/replay/init",
      body: { replay_requested_timestamp: start.toISOString(), replay_end_timestamp: end.toISOString() },
    },
    options,
  );
}

/** End a control-room replay. */
export async function endReplay(replayId: string, options?: CallOptions): Promise<void> {
  await call({ operation: "end_replay", route: "PUT /v1/replay/{replay_id}/end", params: { replay_id: replayId }, body: {} }, options);
}

/** Force-end the tenant's stuck control-room replay (admin). */
export async function resetReplay(options?: CallOptions): Promise<CurrentReplay> {
  return data({ operation: "reset_replay", route: "POST /v1/replay/reset", body: {} }, options);
}

/** The tenant's snapshot schedule and tables. */
export type SnapshotConfiguration = Schema<"ConfigurationModel">;

export async function getSnapshotConfiguration(options?: CallOptions): Promise<SnapshotConfiguration> {
  return data({ operation: "get_configuration", route: "GET /v1/configuration" }, options);
}

export async function setSnapshotInterval(cron: string, options?: CallOptions): Promise<SnapshotConfiguration> {
  return data(
    { operation: "set_snapshot_interval", route: "PUT /v1/configuration/snapshot-interval", body: { snapshot_interval: cron } },
    options,
  );
}

export async function setSnapshotListTables(tables: string, options?: CallOptions): Promise<SnapshotConfiguration> {
  return data(
    { operation: "set_snapshot_list_tables", route: "PUT /v1/configuration/snapshot-list-tables", body: { list_tables: tables } },
    options,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Bookmarks (per user): instants with a note.

/** An instant with a note. */
export type Bookmark = Schema<"BookmarkModel">;

/** The caller's bookmarks with `start <= at <= end`, in time order (every page, at most `max` of them). */
export async function listBookmarks(start: Date, end: Date, max = 1000, options?: CallOptions): Promise<Bookmark[]> {
  const found: Bookmark[] = [];
  let cursor: string | null | undefined = null;
  do {
    const page: AnswerOf<"GET /bookmarks"> | null = await call(
      {
        operation: "list_bookmarks",
        route: "GET /bookmarks",
        query: { start: start.toISOString(), end: end.toISOString(), limit: 500, cursor },
      },
      options,
    );
    if (!page) break;
    found.push(...page.data);
    cursor = page.page.next_cursor;
  } while (cursor && found.length < max);
  return found.slice(0, max);
}

export async function createBookmark(at: Date, note: string, options?: CallOptions): Promise<Bookmark> {
  return data({ operation: "create_bookmark", route: "POST /bookmarks", body: { at: at.toISOString(), note } }, options);
}

export async function deleteBookmark(id: string, options?: CallOptions): Promise<void> {
  await call({ operation: "delete_bookmark", route: "DELETE /bookmarks/{bookmark_id}", params: { bookmark_id: id } }, options);
}
