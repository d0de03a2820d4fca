import type { QueryClient } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { health } from "../../../test/app";
import { FakeWebSocket } from "../../../test/FakeWebSocket";
import { jobMessage, makeJob } from "../../../test/fixtures";
import { testQueryClient, withClient } from "../../../test/queryClient";
import { OFFLINE_PROBE_MS } from "../../../api/queries";
import { useActivity, type ActivityDeps } from "./useActivity";

let client: QueryClient;
let serverUp: boolean;
const deps: ActivityDeps = { createSocket: (url) => new FakeWebSocket(url), url: () => "ws://test/ws" };

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  client = testQueryClient();
  serverUp = true;
  vi.stubGlobal(
    "fetch",
    vi.fn(() =>
      serverUp
        ? Promise.resolve(new Response(JSON.stringify(health), { headers: { "content-type": "application/json" } }))
        : Promise.reject(new TypeError("Failed to fetch")),
    ),
  );
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));

function follow() {
  return renderHook(() => useActivity(true, undefined, deps), { wrapper: withClient(client) });
}

describe("useActivity", () => {
  it("reconnects within a probe of the server answering again, however long the backoff had grown", async () => {
    const { result } = follow();
    act(() => FakeWebSocket.activity.open());
    serverUp = false;
    act(() => FakeWebSocket.activity.drop());
    // Away a while: the socket's retries (0.5, 1, 2, 4 s) fail, and the next waits 8 s.
    for (const wait of [500, 1000, 2000, 4000]) {
      await advance(wait);
      act(() => FakeWebSocket.activity.drop());
    }
    expect(result.current.state).toBe("down");
    const tries = FakeWebSocket.instances.length;
    serverUp = true;
    await advance(OFFLINE_PROBE_MS + 10); // the next probe of /api/health answers
    expect(FakeWebSocket.instances.length).toBe(tries + 1);
    act(() => FakeWebSocket.activity.open());
    expect(result.current.state).toBe("live");
  });

  it("an ended job leaves the strip on its own message, before the next list", () => {
    const { result } = follow();
    const running = makeJob({ job_id: "a", status: "processing", queue_position: null });
    const waiting = makeJob({ job_id: "b", status: "queued", queue_position: 1 });
    act(() => FakeWebSocket.activity.open());
    act(() => FakeWebSocket.activity.send({ type: "active", queue_length: 1, jobs: [running, waiting] }));
    act(() => FakeWebSocket.activity.send(jobMessage("complete", { ...running, status: "complete" })));
    act(() => FakeWebSocket.activity.send(jobMessage("status", { ...waiting, status: "processing", queue_position: null }, "started")));
    expect(result.current.jobs?.map((j) => [j.job_id, j.status])).toEqual([["b", "processing"]]);
  });
});
