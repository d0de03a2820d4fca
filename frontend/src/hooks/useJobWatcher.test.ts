import { act, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Job } from "../api/types";
import { FakeWebSocket } from "../test/FakeWebSocket";
import { makeJob, makeProgress } from "../test/fixtures";
import { POLL_INTERVAL_MS, reconnectDelay, useJobWatcher, type WatcherDeps } from "./useJobWatcher";

let serverJob: Job;
let fetchJob: ReturnType<typeof vi.fn<(id: string) => Promise<Job>>>;
let deps: WatcherDeps;

beforeEach(() => {
  vi.useFakeTimers();
  FakeWebSocket.reset();
  serverJob = makeJob({ status: "queued", queue_position: 2 });
  fetchJob = vi.fn(async () => serverJob);
  deps = {
    createSocket: (url) => new FakeWebSocket(url),
    fetchJob,
    socketUrl: (id) => `ws://test/ws/${id}`,
  };
});

afterEach(() => {
  vi.useRealTimers();
});

/** Let resolved promises (the fake fetch) run, without moving the clock. */
const flush = () => act(async () => {});
const advance = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));

function watch(jobId: string | null = "job-1") {
  return renderHook(({ id }) => useJobWatcher(id, deps), { initialProps: { id: jobId } });
}

describe("reconnectDelay", () => {
  it("doubles from 500ms and caps at 10s", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(reconnectDelay)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
  });
});

describe("useJobWatcher", () => {
  it("does nothing without a job", () => {
    const { result } = watch(null);
    expect(FakeWebSocket.instances).toHaveLength(0);
    expect(fetchJob).not.toHaveBeenCalled();
    expect(result.current.view.connection).toBe("idle");
  });

  it("follows a job over the socket to completion, then fetches the full record", async () => {
    const { result } = watch();
    await flush();
    const ws = FakeWebSocket.last;
    expect(ws.url).toBe("ws://test/ws/job-1");
    act(() => ws.open());
    expect(result.current.view.connection).toBe("live");

    act(() => ws.send({ type: "snapshot", job_id: "job-1", status: "queued", progress: null, error: null, queue_position: 2 }));
    expect(result.current.view.queuePosition).toBe(2);

    act(() => ws.send({ type: "progress", job_id: "job-1", status: "processing", progress: makeProgress({ step: 3, total_steps: 10 }) }));
    expect(result.current.view.status).toBe("processing");
    expect(result.current.view.progress?.step).toBe(3);

    fetchJob.mockClear();
    serverJob = makeJob({ status: "complete", outputs: ["/api/jobs/job-1/files/output_1.png"], queue_position: null });
    act(() => ws.send({ type: "complete", job_id: "job-1", status: "complete", outputs: ["/api/jobs/job-1/files/output_1.png"] }));
    expect(result.current.view.status).toBe("complete");
    await flush();
    expect(fetchJob).toHaveBeenCalledTimes(1);
    expect(result.current.view.job?.status).toBe("complete");

    // The server's closing 1000 after the terminal message must not trigger a reconnect or polling.
    act(() => ws.drop(1000));
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(fetchJob).toHaveBeenCalledTimes(1);
  });

  it("reconnects with growing delays and polls every second while disconnected", async () => {
    const { result } = watch();
    await flush();
    expect(FakeWebSocket.instances).toHaveLength(1);
    fetchJob.mockClear();

    act(() => FakeWebSocket.last.drop(1006));
    expect(result.current.view.connection).toBe("polling");
    await flush();
    expect(fetchJob).toHaveBeenCalledTimes(1); // polls at once

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

    // Meanwhile polling ran about once a second (0, 1000ms) and picked up the server's state.
    expect(fetchJob.mock.calls.length).toBeGreaterThanOrEqual(2);
    serverJob = makeJob({ status: "processing", queue_position: null, progress: makeProgress({ step: 2 }) });
    await advance(POLL_INTERVAL_MS);
    expect(result.current.view.status).toBe("processing");
    expect(result.current.view.progress?.step).toBe(2);

    // Once a socket opens, polling stops and the backoff resets.
    act(() => FakeWebSocket.last.open());
    expect(result.current.view.connection).toBe("live");
    const calls = fetchJob.mock.calls.length;
    await advance(5 * POLL_INTERVAL_MS);
    expect(fetchJob.mock.calls.length).toBe(calls);

    act(() => FakeWebSocket.last.drop(1006));
    await advance(500);
    expect(FakeWebSocket.instances).toHaveLength(4);
  });

  it("polling alone finishes the job when the socket never comes back", async () => {
    deps.createSocket = (url) => {
      const ws = new FakeWebSocket(url);
      queueMicrotask(() => ws.drop(1006));
      return ws;
    };
    const { result } = watch();
    await flush();
    expect(result.current.view.connection).toBe("polling");
    serverJob = makeJob({ status: "complete", outputs: ["/o.png"], queue_position: null });
    await advance(POLL_INTERVAL_MS);
    expect(result.current.view.status).toBe("complete");
    expect(result.current.view.connection).toBe("idle");
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
    expect(result.current.view.notFound).toBe(true);
    await advance(30_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("stops when the GET says 404", async () => {
    fetchJob.mockRejectedValue(new ApiError(404, "Job not found"));
    const { result } = watch();
    await flush();
    expect(result.current.view.notFound).toBe(true);
    expect(FakeWebSocket.last.closedByClient).toBe(true);
  });

  it("does not open a socket for a job that is already finished", async () => {
    serverJob = makeJob({ status: "complete", outputs: ["/o.png"] });
    const { result } = watch();
    await flush();
    expect(result.current.view.status).toBe("complete");
    expect(FakeWebSocket.last.closedByClient).toBe(true);
    act(() => FakeWebSocket.last.drop(1000));
    await advance(10_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });

  it("closes the socket and stops timers when unmounted or switched to another job", async () => {
    const { rerender, unmount, result } = watch();
    await flush();
    const first = FakeWebSocket.last;
    rerender({ id: "job-2" });
    expect(first.closedByClient).toBe(true);
    expect(FakeWebSocket.last.url).toBe("ws://test/ws/job-2");
    expect(result.current.view.jobId).toBe("job-2");
    unmount();
    expect(FakeWebSocket.last.closedByClient).toBe(true);
    const calls = fetchJob.mock.calls.length;
    await advance(30_000);
    expect(fetchJob.mock.calls.length).toBe(calls);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("applyJob takes a record such as a cancel response", async () => {
    const { result } = watch();
    await flush();
    act(() => result.current.applyJob(makeJob({ status: "cancelled", queue_position: null })));
    expect(result.current.view.status).toBe("cancelled");
  });
});
