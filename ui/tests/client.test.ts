/** The API client of seed 000: requests, envelopes, conversions and the error handling contract. */

import assert from "node:assert/strict";
import { beforeEach, describe, test } from "node:test";

import {
  type ErrorContext,
  MsrError,
  buildUrl,
  configureMsrClient,
  configureMsrErrorHandling,
  createSession,
  getCurrentSession,
  getHistogram,
  getInitialState,
  getPlaybackRange,
  getReplayEvents,
  setCurrentSession,
  terminateSession,
} from "../src/api/client.js";

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

let seen: Seen[] = [];
let answers: (() => Response | Promise<Response>)[] = [];
let toasts: { error: MsrError; context: ErrorContext }[] = [];
let handled: { error: MsrError; context: ErrorContext }[] = [];

function json(status: number, body: unknown, headers: Record<string, string> = {}): () => Response {
  return () => new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

beforeEach(() => {
  seen = [];
  answers = [];
  toasts = [];
  handled = [];
  setCurrentSession(null);
  configureMsrClient({
    baseUrl: "http://msr.test",
    getToken: () => "tok",
    fetch: async (input, init) => {
      const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>));
      const entry: Seen = { url: String(input), method: init?.method ?? "GET", headers };
      if (typeof init?.body === "string") entry.body = init.body;
      seen.push(entry);
      const next = answers.shift();
      if (!next) throw new Error("no answer queued");
      return next();
    },
  });
  configureMsrErrorHandling({
    presenter: (error, context) => toasts.push({ error, context }),
    onError: (error, context) => {
      handled.push({ error, context });
    },
    defaultOptions: { logError: false },
  });
});

const SESSION = {
  id: "4a966973-2131-4521-be48-e3d79306a847",
  user_id: "u1",
  tenant_id: "t1",
  status: "ACTIVE",
  created_at: "2025-08-05T10:13:24Z",
  occ_lock: 0,
};

describe("requests", () => {
  test("createSession posts with the bearer token and a correlation id, and becomes the current session", async () => {
    answers.push(json(201, { data: SESSION, message: "Created session successfully", sent_at: "2025-08-05T10:19:05Z" }));
    const { sessionId, session } = await createSession();
    assert.equal(sessionId, SESSION.id);
    assert.equal(session.status, "ACTIVE");
    assert.equal(getCurrentSession(), SESSION.id);
    const [request] = seen;
    assert.equal(request?.url, "http://msr.test/session");
    assert.equal(request?.method, "POST");
    assert.equal(request?.headers["Authorization"], "Bearer tok");
    assert.match(request?.headers["X-Correlation-ID"] ?? "", /^[0-9a-f-]{36}$/);
  });

  test("replay reads carry the current session and convert events to ReplayEvents", async () => {
    setCurrentSession("s-1");
    const item = { entity_id: "e1", table_name: "fleet.vehicles", op: "u", entity_state: { a: 1 }, event_timestamp: "2024-01-05T12:00:00Z" };
    answers.push(json(200, { data: [item], sent_at: "x" }));
    const events = await getInitialState(new Date("2024-01-05T12:00:00Z"), { tables: ["fleet.vehicles"] });
    assert.deepEqual(events, [
      { entityId: "e1", entityState: { a: 1 }, operation: "update", timestamp: new Date("2024-01-05T12:00:00Z"), tableName: "fleet.vehicles" },
    ]);
    assert.equal(seen[0]?.headers["X-Session-ID"], "s-1");
    assert.equal(seen[0]?.url, "http://msr.test/replay/state?timestamp=2024-01-05T12%3A00%3A00.000Z&tables=fleet.vehicles");
    answers.push(json(200, { data: [{ ...item, op: "d", entity_state: null }], sent_at: "x" }));
    const changes = await getReplayEvents(new Date("2024-01-05T12:00:00Z"), new Date("2024-01-05T13:00:00Z"));
    assert.equal(changes[0]?.operation, "delete");
    assert.match(seen[1]?.url ?? "", /\/replay\/events\?start=.*&end=/);
  });

  test("getPlaybackRange maps the server's fields to the seed's names", async () => {
    answers.push(json(200, { data: { max_days: 7, start_date: "2024-01-01T00:00:00Z", end_date: "2024-01-08T00:00:00Z", earliest_valid_date: null }, sent_at: "x" }));
    assert.deepEqual(await getPlaybackRange(), { maxDays: 7, startDate: "2024-01-01T00:00:00Z", endDate: "2024-01-08T00:00:00Z" });
  });

  test("terminateSession forgets the current session when it is that one", async () => {
    setCurrentSession("s-2");
    answers.push(json(204, null));
    await terminateSession("s-2");
    assert.equal(seen[0]?.url, "http://msr.test/session/s-2/terminate");
    assert.equal(getCurrentSession(), null);
  });

  test("an optional endpoint answering 404 gives null, without a toast", async () => {
    answers.push(json(404, { error: { code: "NOT_FOUND", message: "no such resource", correlation_id: "c", is_retryable: false } }));
    assert.equal(await getHistogram(), null);
    assert.equal(toasts.length, 0);
  });

  test("buildUrl leaves out empty values and repeats list values", () => {
    assert.equal(buildUrl("http://h/", "/p", { a: "1", b: "", c: undefined, d: null, e: ["x", "y"] }), "http://h/p?a=1&e=x&e=y");
    assert.equal(buildUrl("", "/p"), "/p");
  });
});

describe("errors", () => {
  const LIMIT = {
    error: {
      code: "SESSION_LIMIT_REACHED",
      message: "the limit of 1 active sessions is reached",
      correlation_id: "corr-1",
      is_retryable: false,
      action: "terminate_existing_session",
      details: { max_active_sessions: 1 },
    },
    sent_at: "x",
  };

  test("an error answer becomes an MsrError: toasted, handed to onError, and thrown", async () => {
    answers.push(json(429, LIMIT));
    const error = await createSession().then(
      () => assert.fail("should have thrown"),
      (thrown: unknown) => thrown,
    );
    assert.ok(error instanceof MsrError);
    assert.equal(error.code, "SESSION_LIMIT_REACHED");
    assert.equal(error.message, "the limit of 1 active sessions is reached");
    assert.equal(error.correlationId, "corr-1");
    assert.equal(error.isRetryable, false);
    assert.equal(error.action, "terminate_existing_session");
    assert.deepEqual(error.details, { max_active_sessions: 1 });
    assert.equal(error.status, 429);
    assert.equal(toasts.length, 1);
    assert.equal(handled[0]?.context.operation, "create_session");
    assert.ok(handled[0]?.context.timestamp instanceof Date);
  });

  test("quiet codes are not toasted but still thrown and handled", async () => {
    answers.push(json(429, LIMIT));
    await assert.rejects(createSession({ quietCodes: ["SESSION_LIMIT_REACHED"] }), MsrError);
    assert.equal(toasts.length, 0);
    assert.equal(handled.length, 1);
  });

  test("throwError false resolves to undefined instead of throwing", async () => {
    answers.push(json(429, LIMIT));
    assert.equal(await getPlaybackRange({ throwError: false }), undefined);
    configureMsrErrorHandling({ defaultOptions: { throwError: false, showToast: false, logError: false } });
    answers.push(json(500, { error: { code: "INTERNAL_SERVER_ERROR", message: "boom", correlation_id: "c2", is_retryable: false } }));
    assert.equal(await getPlaybackRange(), undefined);
  });

  test("no answer at all is a retryable NETWORK_ERROR with the correlation id that was sent", async () => {
    answers.push(() => {
      throw new TypeError("fetch failed");
    });
    const error = (await getPlaybackRange().catch((thrown: unknown) => thrown)) as MsrError;
    assert.equal(error.code, "NETWORK_ERROR");
    assert.equal(error.isRetryable, true);
    assert.equal(error.correlationId, seen[0]?.headers["X-Correlation-ID"]);
  });

  test("an answer that is not the API's (a proxy's 502 page) is a retryable SERVICE_UNAVAILABLE", async () => {
    answers.push(() => new Response("<html>bad gateway</html>", { status: 502, headers: { "X-Correlation-ID": "from-proxy" } }));
    const error = (await getPlaybackRange().catch((thrown: unknown) => thrown)) as MsrError;
    assert.equal(error.code, "SERVICE_UNAVAILABLE");
    assert.equal(error.isRetryable, true);
    assert.equal(error.correlationId, "from-proxy");
  });
});
