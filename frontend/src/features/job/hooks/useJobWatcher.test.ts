import type { QueryClient } from "@tanstack/react-query";
import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../../api/client";
import type { Job } from "../../../api/types";
import { FakeWebSocket } from "../../../test/FakeWebSocket";
import { jobMessage, makeJob, makeProgress, progressMessage } from "../../../test/fixtures";
import { testQueryClient, withClient } from "../../../test/queryClient";
import { jobListQuery } from "../../../api/queries";
import { reconnectDelay } from "../../../hooks/useReconnectingSocket";
import { POLL_INTERVAL_MS, useJobWatcher, type WatcherDeps } from "./useJobWatcher";

let serverJob: Job;
let fetchJob: ReturnType<typeof vi.fn<(id: string) => Promise<Job>>>;
let deps: WatcherDeps;
let client: QueryClient;

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  client = testQueryClient();
  serverJob = makeJob({ status: "queued", queue_position: 2 });
  fetchJob = vi.fn(() => Promise.resolve(serverJob));
  deps = {
    createSocket: (url) => new FakeWebSocket(url),
    fetchJob,
    socketUrl: (id) => `ws://test/ws/${id}`,
  };
});

afterEach(() => {
  vi.useRealTimers();
});

/** Let resolved promises (the fake fetch, the cache's notifications) run, without moving the clock far. */
const flush = () => act(async () => void (await vi.advanceTimersByTimeAsync(0)));
const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));
const send = async (ws: FakeWebSocket, message: unknown) => {
  act(() => ws.send(message));
  await flush();
};

function watch(jobId: string | null = "job-1") {
  return renderHook(({ id }) => useJobWatcher(id, deps), { initialProps: { id: jobId }, wrapper: withClient(client) });
}

const complete = makeJob({
  status: "complete",
  queue_position: null,
  progress: makeProgress({ stage: "saving", step: null, progress: 100 }),
  config: { ...makeJob().config, seed: 1234 },
  outputs: ["/api/jobs/job-1/files/output_1.png"],
  finished_at: "2026-01-01T00:01:00Z",
});

describe("reconnectDelay", () => {
  it("doubles from 500ms and caps at 10s", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(reconnectDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});

describe("useJobWatcher", () => {
  it("does nothing without a job", async () => {
    const { result } = watch(null);
    await advance(5_000);
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(fetchJob).not.toHaveBeenCalled();
    expect(result.current).toMatchObject({ job: null, connection: "idle", notFound: false });
  });

  it("follows a job over the socket alone, from the snapshot to the final whole-job message", async () => {
    const { result } = watch();
    await flush();
    const ws = FakeWebSocket.last;
    expect(ws.url).toBe("ws://test/ws/job-1");
    expect(result.current.connection).toBe("connecting");
    expect(result.current.job).toBeNull();
    act(() => ws.open());
    expect(result.current.connection).toBe("live");

    await send(ws, jobMessage("snapshot", makeJob({ queue_position: 2 })));
    expect(result.current.job).toMatchObject({ status: "queued", queue_position: 2, inputs: ["/api/jobs/job-1/files/input_1.png"] });

    await send(ws, jobMessage("status", makeJob({ status: "processing", queue_position: null, started_at: "2026-01-01T00:00:01Z" })));
    await send(ws, progressMessage("job-1", makeProgress({ step: 3, total_steps: 10 })));
    expect(result.current.job).toMatchObject({ status: "processing", progress: { step: 3 }, started_at: "2026-01-01T00:00:01Z" });

    await send(ws, jobMessage("complete", complete));
    expect(result.current.job).toEqual(complete);
    expect(result.current.connection).toBe("idle");
    expect(ws.closedByClient).toBe(true);

    // The server's closing 1000 after the final message is no reason to reconnect or poll.
    act(() => ws.drop(1000));
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(fetchJob).not.toHaveBeenCalled();
  });

  it("shows a finished job from its snapshot and final message, and does not reconnect", async () => {
    const { result } = watch();
    await flush();
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    await send(ws, jobMessage("snapshot", complete));
    await send(ws, jobMessage("complete", complete));
    expect(result.current.job?.outputs).toEqual(complete.outputs);
    expect(result.current.job?.config.seed).toBe(1234);
    act(() => ws.drop(1000));
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(fetchJob).not.toHaveBeenCalled();
  });

  it("ignores malformed frames and messages about another job", async () => {
    const { result } = watch();
    await flush();
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    await send(ws, jobMessage("snapshot", makeJob({ queue_position: 2 })));
    await send(ws, { type: "status", job_id: "job-1", status: "complete" }); // not a whole job
    await send(ws, jobMessage("cancelled", makeJob({ job_id: "job-2", status: "cancelled" })));
    act(() => ws.onmessage?.(new MessageEvent("message", { data: "not json" })));
    await flush();
    expect(result.current.job).toMatchObject({ job_id: "job-1", status: "queued", queue_position: 2 });
  });

  it("whole-job messages update the job's history entry; progress messages leave the list alone", async () => {
    client.setQueryData(jobListQuery().queryKey, { jobs: [makeJob({ status: "queued" })], total: 1 });
    watch();
    await flush();
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    await send(ws, jobMessage("status", makeJob({ status: "processing", queue_position: null })));
    const list = client.getQueryData(jobListQuery().queryKey);
    expect(list?.jobs[0]?.status).toBe("processing");
    await send(ws, progressMessage("job-1", makeProgress({ step: 4 })));
    expect(client.getQueryData(jobListQuery().queryKey)).toBe(list);
    await send(ws, jobMessage("complete", complete));
    expect(client.getQueryData(jobListQuery().queryKey)?.jobs).toEqual([complete]);
  });

  it("reconnects with growing delays and polls every second only while disconnected", async () => {
    const { result } = watch();
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(1);
    act(() => FakeWebSocket.last.open());
    await advance(5 * POLL_INTERVAL_MS);
    expect(fetchJob).not.toHaveBeenCalled(); // socket up: no GET at all

    act(() => FakeWebSocket.last.drop(1006));
    await flush();
    expect(result.current.connection).toBe("polling");
    expect(fetchJob).toHaveBeenCalledTimes(1); // polls at once
    expect(result.current.job).toMatchObject({ status: "queued", queue_position: 2 });

    // First reconnect after 500ms, not before.
    await advance(499);
    expect(FakeWebSocket.instances).toHaveLength(1);
    await advance(1);
    expect(FakeWebSocket.instances).toHaveLength(2);

    // That one fails too: the next waits 1000ms.
    act(() => FakeWebSocket.last.drop(1006));
    await advance(999);
    expect(FakeWebSocket.instances).toHaveLength(2);
    await advance(1);
    expect(FakeWebSocket.instances).toHaveLength(3);

    // Meanwhile polling ran about once a second and picks up the server's state.
    expect(fetchJob.mock.calls.length).toBeGreaterThanOrEqual(2);
    serverJob = makeJob({ status: "processing", queue_position: null, progress: makeProgress({ step: 2 }) });
    await advance(POLL_INTERVAL_MS);
    expect(result.current.job).toMatchObject({ status: "processing", progress: { step: 2 } });

    // Once a socket opens, polling stops and the backoff resets.
    act(() => FakeWebSocket.last.open());
    await flush();
    expect(result.current.connection).toBe("live");
    const calls = fetchJob.mock.calls.length;
    await advance(5 * POLL_INTERVAL_MS);
    expect(fetchJob.mock.calls.length).toBe(calls);

    act(() => FakeWebSocket.last.drop(1006));
    await advance(500);
    expect(FakeWebSocket.instances).toHaveLength(4);
  });

  it("reconnects the moment the server answers again, without waiting out the backoff", async () => {
    watch();
    await flush();
    act(() => FakeWebSocket.last.open());
    await flush();
    fetchJob.mockImplementation(() => Promise.reject(new TypeError("Failed to fetch"))); // the server is away
    // Away long enough for the backoff to grow: 0.5 s, 1 s, 2 s, 4 s, 8 s…
    act(() => FakeWebSocket.last.drop(1006));
    for (const wait of [500, 1000, 2000, 4000]) {
      await advance(wait);
      act(() => FakeWebSocket.last.drop(1006));
    }
    const tries = FakeWebSocket.instances.length;
    // Back: the next poll (within a second) answers, and the socket reconnects at once, not 8 s later.
    fetchJob.mockImplementation(() => Promise.resolve(serverJob));
    await advance(POLL_INTERVAL_MS);
    expect(FakeWebSocket.instances.length).toBe(tries + 1);
  });

  it("polling alone finishes the job when the socket never comes back", async () => {
    deps.createSocket = (url) => {
      const ws = new FakeWebSocket(url);
      queueMicrotask(() => ws.drop(1006));
      return ws;
    };
    const { result } = watch();
    await flush();
    expect(result.current.connection).toBe("polling");
    serverJob = complete;
    await advance(POLL_INTERVAL_MS);
    expect(result.current.job?.status).toBe("complete");
    expect(result.current.connection).toBe("idle");
    const sockets = FakeWebSocket.instances.length;
    const calls = fetchJob.mock.calls.length;
    await advance(60_000);
    expect(FakeWebSocket.instances.length).toBe(sockets);
    expect(fetchJob.mock.calls.length).toBe(calls);
  });

  it("stops on close 4404 (unknown job)", async () => {
    const { result } = watch();
    await flush();
    act(() => FakeWebSocket.last.drop(4404));
    await flush();
    expect(result.current.notFound).toBe(true);
    expect(result.current.connection).toBe("idle");
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(fetchJob).not.toHaveBeenCalled();
  });

  it("says the session ended on close 1008 (no valid key or session)", async () => {
    const onUnauthorised = vi.fn();
    deps.onUnauthorised = onUnauthorised;
    watch();
    await flush();
    act(() => FakeWebSocket.last.drop(1008, "your session has ended"));
    await flush();
    expect(onUnauthorised).toHaveBeenCalledTimes(1);
    await advance(reconnectDelay(0)); // the page unmounts this on its way to the sign-in; alone, it retries
    expect(FakeWebSocket.instances).toHaveLength(2);
    act(() => FakeWebSocket.last.drop(1006));
    await flush();
    expect(onUnauthorised).toHaveBeenCalledTimes(1); // only 1008 means that
  });

  it("stops when a poll says 404", async () => {
    fetchJob.mockRejectedValue(new ApiError(404, "Job not found"));
    const { result } = watch();
    await flush();
    act(() => FakeWebSocket.last.drop(1006));
    await flush();
    expect(result.current.notFound).toBe(true);
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(fetchJob).toHaveBeenCalledTimes(1);
  });

  it("closes the socket and stops timers when unmounted or switched to another job", async () => {
    const { rerender, unmount, result } = watch();
    await flush();
    const first = FakeWebSocket.last;
    act(() => first.open());
    await send(first, jobMessage("snapshot", makeJob()));
    rerender({ id: "job-2" });
    expect(first.closedByClient).toBe(true);
    expect(FakeWebSocket.last.url).toBe("ws://test/ws/job-2");
    expect(result.current).toMatchObject({ jobId: "job-2", job: null, connection: "connecting" });
    act(() => FakeWebSocket.last.drop(1006));
    unmount();
    const calls = fetchJob.mock.calls.length;
    await advance(30_000);
    expect(fetchJob.mock.calls.length).toBe(calls);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });
});
