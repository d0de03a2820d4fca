import { vi } from "vitest";
import { TestRequest } from "./request";

export interface FakeRequest {
  method: string;
  /** Path and query, e.g. "/api/jobs?limit=48". */
  url: string;
  path: string;
  query: URLSearchParams;
  form: FormData | null;
  /** A JSON body, parsed (null without one). */
  body: unknown;
}

export type Route = (request: FakeRequest) => Response | undefined | Promise<Response | undefined>;

/** A text field of a posted form ("" when missing or a file). */
export function formText(form: FormData | null | undefined, name: string): string {
  const value = form?.get(name);
  return typeof value === "string" ? value : "";
}

const parseJson = (text: string): unknown => JSON.parse(text);

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/**
 * Replaces fetch with `route` (404 for anything it does not answer) and records every request, so a
 * test can say both what the page showed and which requests it took to show it.
 */
export function fakeServer(route: Route) {
  const calls: FakeRequest[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url, window.location.href);
    const text = request instanceof TestRequest && request.form ? "" : await request.clone().text();
    const call: FakeRequest = {
      method: request.method,
      url: url.pathname + url.search,
      path: url.pathname,
      query: url.searchParams,
      form: request instanceof TestRequest ? request.form : null,
      body: text ? parseJson(text) : null,
    };
    calls.push(call);
    return (await route(call)) ?? json({ detail: `unexpected ${call.method} ${call.url}` }, 404);
  });
  vi.stubGlobal("fetch", fetch);
  return {
    fetch,
    calls,
    /** Requests whose path starts with `prefix` (and, if given, use `method`). */
    callsTo: (prefix: string, method?: string) =>
      calls.filter((c) => c.path.startsWith(prefix) && (method === undefined || c.method === method)),
  };
}
