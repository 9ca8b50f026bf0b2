/**
 * The error model of the MSR API client (seed 000, "Frontend API Client"): one error type for every failure,
 * with the server's stable code, its correlation id, and whether a retry may help.
 */

import type { components } from "./schema.js";

/** The error codes of the API (SPEC section 7) plus the client's own NETWORK_ERROR. */
export const ErrorCodes = {
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  METHOD_NOT_ALLOWED: "METHOD_NOT_ALLOWED",
  VALIDATION_ERROR: "VALIDATION_ERROR",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  REQUEST_HEADERS_TOO_LARGE: "REQUEST_HEADERS_TOO_LARGE",
  REQUEST_TIMEOUT: "REQUEST_TIMEOUT",
  TIMESTAMP_OUT_OF_RANGE: "TIMESTAMP_OUT_OF_RANGE",
  INVALID_PLAYBACK_WINDOW: "INVALID_PLAYBACK_WINDOW",
  SESSION_LIMIT_REACHED: "SESSION_LIMIT_REACHED",
  SESSION_INACTIVE: "SESSION_INACTIVE",
  CONFLICT: "CONFLICT",
  NOT_ALLOWED: "NOT_ALLOWED",
  RANGE_NOT_SATISFIABLE: "RANGE_NOT_SATISFIABLE",
  REPLAY_IN_PROGRESS: "REPLAY_IN_PROGRESS",
  SESSION_CREATION_FAILED: "SESSION_CREATION_FAILED",
  SERVICE_UNAVAILABLE: "SERVICE_UNAVAILABLE",
  INTERNAL_SERVER_ERROR: "INTERNAL_SERVER_ERROR",
  NETWORK_ERROR: "NETWORK_ERROR",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

// Every code the OpenAPI document gives an error envelope must be one the client knows: tsc fails otherwise.
type UnknownServerCodes = Exclude<components["schemas"]["ErrorCode"], ErrorCode>;
export const everyServerCodeIsKnown: [UnknownServerCodes] extends [never] ? true : UnknownServerCodes = true;

/** What the seed's table says to do about each code, shown under the message in a toast. */
const GUIDANCE: Partial<Record<string, string>> = {
  SESSION_LIMIT_REACHED: "Terminate an existing session.",
  SESSION_CREATION_FAILED: "Retry in a moment.",
  NETWORK_ERROR: "Check the connection and retry.",
  INTERNAL_SERVER_ERROR: "Contact support with the correlation id.",
  TIMESTAMP_OUT_OF_RANGE: "Select a different time.",
  INVALID_PLAYBACK_WINDOW: "Shorten the playback window.",
  UNAUTHORIZED: "Sign in again.",
  SERVICE_UNAVAILABLE: "Retry in a moment.",
};

/** The shape of the seed's `MsrError` interface. */
export interface MsrErrorShape {
  code: string;
  message: string;
  correlationId: string;
  isRetryable: boolean;
  action?: string;
  details?: Record<string, unknown>;
}

/** Every failure of the client: an HTTP error answer, a network failure, or an answer that is not the API's. */
export class MsrError extends Error implements MsrErrorShape {
  readonly code: string;
  readonly correlationId: string;
  readonly isRetryable: boolean;
  readonly action?: string;
  readonly details?: Record<string, unknown>;
  /** The HTTP status, 0 when no answer arrived. */
  readonly status: number;

  constructor(shape: MsrErrorShape, status = 0) {
    super(shape.message);
    this.name = "MsrError";
    this.code = shape.code;
    this.correlationId = shape.correlationId;
    this.isRetryable = shape.isRetryable;
    if (shape.action !== undefined) this.action = shape.action;
    if (shape.details !== undefined) this.details = shape.details;
    this.status = status;
  }

  /** What the user can do about it, when the seed's table says. */
  get guidance(): string | undefined {
    return GUIDANCE[this.code];
  }

  toJSON(): MsrErrorShape & { status: number } {
    const out: MsrErrorShape & { status: number } = {
      code: this.code,
      message: this.message,
      correlationId: this.correlationId,
      isRetryable: this.isRetryable,
      status: this.status,
    };
    if (this.action !== undefined) out.action = this.action;
    if (this.details !== undefined) out.details = this.details;
    return out;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The code an HTTP status means when the body is not the API's error envelope (a proxy's page, say). */
function codeOfStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCodes.UNAUTHORIZED;
  if (status === 403) return ErrorCodes.FORBIDDEN;
  if (status === 404) return ErrorCodes.NOT_FOUND;
  if (status === 409) return ErrorCodes.CONFLICT;
  if (status === 429) return ErrorCodes.SESSION_LIMIT_REACHED;
  if (status === 502 || status === 503 || status === 504) return ErrorCodes.SERVICE_UNAVAILABLE;
  if (status >= 500) return ErrorCodes.INTERNAL_SERVER_ERROR;
  return ErrorCodes.VALIDATION_ERROR;
}

/**
 * The MsrError of an error answer: the envelope `{"error": {code, message, correlation_id, is_retryable,
 * action?, details?}}` when the body is one, else a generic error for the status. The correlation id falls back
 * to the `X-Correlation-ID` header, then to the one the client sent.
 */
export function errorFromBody(status: number, body: unknown, headerCorrelationId: string | null, sentId: string): MsrError {
  const correlationId = headerCorrelationId || sentId;
  const error = isRecord(body) ? body["error"] : undefined;
  if (isRecord(error) && typeof error["code"] === "string") {
    const shape: MsrErrorShape = {
      code: error["code"],
      message: typeof error["message"] === "string" ? error["message"] : `HTTP ${status}`,
      correlationId: typeof error["correlation_id"] === "string" ? error["correlation_id"] : correlationId,
      isRetryable: error["is_retryable"] === true,
    };
    if (typeof error["action"] === "string") shape.action = error["action"];
    if (isRecord(error["details"])) shape.details = error["details"];
    return new MsrError(shape, status);
  }
  const code = codeOfStatus(status);
  return new MsrError(
    {
      code,
      message: `the server answered HTTP ${status}`,
      correlationId,
      isRetryable: code === ErrorCodes.SERVICE_UNAVAILABLE,
    },
    status,
  );
}

/** The MsrError of a request that got no answer at all. */
export function networkError(cause: unknown, correlationId: string): MsrError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new MsrError({
    code: ErrorCodes.NETWORK_ERROR,
    message: `cannot reach the server (${reason})`,
    correlationId,
    isRetryable: true,
  });
}
