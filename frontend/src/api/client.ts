/**
 * The one place that talks HTTP: a client typed from the OpenAPI schema (openapi-fetch), and
 * `unwrap`, which turns its `{data, error}` into the data or an ApiError with the server's `detail`.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
    this.name = "ApiError";
  }
}

export const UNREACHABLE = "Cannot reach the server. Is it running?";

export const api = createClient<paths>({
  // An absolute base: the page is served by the API itself, and Request() needs absolute URLs outside browsers.
  baseUrl: globalThis.location?.origin ?? "",
  // Looked up per call, not once at import, so tests (and anything else) can swap fetch later.
  fetch: (request) => globalThis.fetch(request),
});

/**
 * The session came to an end (expired, signed out in another tab, key revoked): a 401 from any route but
 * the sign-in itself, or a socket closed with 1008. Whoever shows the sign-in listens here.
 */
type UnauthorisedListener = () => void;
const unauthorisedListeners = new Set<UnauthorisedListener>();

export function onUnauthorised(listener: UnauthorisedListener): () => void {
  unauthorisedListeners.add(listener);
  return () => void unauthorisedListeners.delete(listener);
}

export function reportUnauthorised(): void {
  for (const listener of [...unauthorisedListeners]) listener();
}

/** Where a wrong key answers 401 too, and that means "try again", not "the session ended". */
const SIGN_IN_PATH = "/api/session";

api.use({
  onResponse({ schemaPath, response }) {
    if (response.status === 401 && schemaPath !== SIGN_IN_PATH) reportUnauthorised();
  },
});

/** Readable text from an error body: ours is `{detail: str}`, FastAPI's own validation is `{detail: [{msg}]}`. */
export function detailOf(body: unknown, response: Pick<Response, "status" | "statusText">): string {
  const fallback = `${response.status} ${response.statusText}`.trim();
  if (!body || typeof body !== "object" || !("detail" in body)) return fallback;
  const { detail } = body;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e: unknown) => (e && typeof e === "object" && "msg" in e ? String(e.msg) : String(e))).join("; ");
  }
  return fallback;
}

type Result<D> = { data?: D; error?: unknown; response: Response };

/** The data of a successful call; otherwise an ApiError (status 0 when the server could not be reached). */
export async function unwrap<D>(pending: Promise<Result<D>>): Promise<D> {
  let result: Result<D>;
  try {
    result = await pending;
  } catch (error) {
    // A query cancelled on purpose is not a connection problem: let TanStack Query see the abort.
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, UNREACHABLE);
  }
  const { data, error, response } = result;
  if (!response.ok || error !== undefined) throw new ApiError(response.status, detailOf(error, response));
  if (data === undefined) throw new ApiError(response.status, `${response.status}: empty response`);
  return data;
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.detail;
  if (error instanceof Error) return error.message;
  return String(error);
}
