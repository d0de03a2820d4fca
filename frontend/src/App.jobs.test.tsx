/** The page's job panel and history, kept current from socket messages and answers, not from re-reading. */
import { act, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { jobReads, listReads, renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { json } from "./test/fakeServer";
import { jobMessage, makeJob, makeProgress, progressMessage } from "./test/fixtures";
import { UNDO_MS } from "./features/history/hooks/useHistory";

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const entry = (jobId: string) => screen.queryAllByTestId("history-item").find((li) => li.dataset.jobId === jobId);

const running = makeJob({ job_id: "run-1", status: "processing", queue_position: null, config: { ...makeJob().config, prompt: "make it red", seed: 77 } });
const finished = {
  ...running,
  status: "complete" as const,
  progress: makeProgress({ stage: "saving", step: null, progress: 100 }),
  outputs: ["/api/jobs/run-1/files/output_1.png"],
  thumbnail: "/api/jobs/run-1/files/thumb.webp",
  finished_at: "2026-01-01T00:00:40Z",
};

describe("App: a job from the URL", () => {
  it("renders a finished job from its socket messages alone: no read of the job", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    const ws = FakeWebSocket.last;
    expect(ws.url).toMatch(/\/ws\/run-1$/);
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", finished)));
    act(() => ws.send(jobMessage("complete", finished)));
    act(() => ws.drop(1000));

    expect(await screen.findByTestId("result-image")).toHaveAttribute("src", "/api/jobs/run-1/files/output_1.png");
    expect(screen.getByTestId("download")).toHaveAttribute("href", "/api/jobs/run-1/download");
    expect(screen.getByTestId("result-settings")).toHaveTextContent("make it red");
    expect(screen.getByTestId("result-seed")).toHaveTextContent("77");
    expect(jobReads(world)).toEqual([]);
  });
});

describe("App: history", () => {
  it("the watched job's messages update its entry without reading the list again", async () => {
    world.history = [running, makeJob({ job_id: "old", status: "complete", created_at: "2025-12-31T00:00:00Z" })];
    window.history.replaceState(null, "", "/?job=run-1");
    vi.useFakeTimers({ shouldAdvanceTime: true });
    await renderApp(world);
    await waitFor(() => expect(entry("run-1")).toHaveAttribute("data-status", "processing"));
    expect(listReads(world)).toHaveLength(1);

    const ws = FakeWebSocket.last;
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", running)));
    act(() => ws.send(progressMessage("run-1", makeProgress({ step: 5 }))));
    act(() => ws.send(jobMessage("complete", finished)));
    await waitFor(() => expect(entry("run-1")).toHaveAttribute("data-status", "complete"));
    expect(entry("run-1")?.querySelector("img")).toHaveAttribute("src", "/api/jobs/run-1/files/thumb.webp");

    // Well past the old 3 s refresh: still the one read from the start.
    await act(async () => void (await vi.advanceTimersByTimeAsync(20_000)));
    expect(listReads(world)).toHaveLength(1);
    expect(jobReads(world)).toEqual([]);
  });

  it("a new job's first message puts it at the top of the list", async () => {
    world.history = [makeJob({ job_id: "old", status: "complete", created_at: "2025-12-31T00:00:00Z" })];
    window.history.replaceState(null, "", "/?job=fresh");
    await renderApp(world);
    await waitFor(() => expect(screen.getAllByTestId("history-item")).toHaveLength(1));
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", makeJob({ job_id: "fresh", created_at: "2026-01-01T00:00:00Z" }))));
    await waitFor(() => expect(screen.getAllByTestId("history-item").map((li) => li.dataset.jobId)).toEqual(["fresh", "old"]));
    expect(screen.getByText("2 jobs")).toBeInTheDocument();
    expect(listReads(world)).toHaveLength(1);
  });

  it("delete takes the entry out at once, can be undone, deletes after the undo time, and puts it back if refused", async () => {
    world.history = [finished, makeJob({ job_id: "other", status: "complete", created_at: "2025-12-31T00:00:00Z" })];
    let answer: (response: Response) => void = () => {};
    world.extra = (req) =>
      req.method === "DELETE" ? new Promise<Response>((resolve) => (answer = resolve)) : undefined;
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const { user } = await renderApp(world);
    await waitFor(() => expect(screen.getAllByTestId("history-item")).toHaveLength(2));

    // Undo within the time: nothing reaches the server, the entry is back.
    await user.click(within(entry("run-1")!).getByTestId("delete-job"));
    expect(entry("run-1")).toBeUndefined();
    expect(screen.getByText("1 job")).toBeInTheDocument();
    expect(screen.getByTestId("undo-toast")).toHaveTextContent("make it red");
    await user.click(screen.getByTestId("undo-delete"));
    expect(entry("run-1")).toBeDefined();
    expect(screen.getByText("2 jobs")).toBeInTheDocument();
    await act(async () => void (await vi.advanceTimersByTimeAsync(UNDO_MS + 100)));
    expect(world.server.callsTo("/api/jobs/run-1", "DELETE")).toHaveLength(0);

    // Left alone: deleted once the undo has run out.
    await user.click(within(entry("run-1")!).getByTestId("delete-job"));
    await act(async () => void (await vi.advanceTimersByTimeAsync(UNDO_MS + 100)));
    await waitFor(() => expect(world.server.callsTo("/api/jobs/run-1", "DELETE")).toHaveLength(1));
    act(() => answer(json({ message: "Deleted", job_id: "run-1" })));
    expect(screen.queryByTestId("undo-toast")).toBeNull();
    expect(entry("run-1")).toBeUndefined();

    // Refused by the server: back in the list, with the reason.
    await user.click(within(entry("other")!).getByTestId("delete-job"));
    expect(entry("other")).toBeUndefined();
    await act(async () => void (await vi.advanceTimersByTimeAsync(UNDO_MS + 100)));
    await waitFor(() => expect(world.server.callsTo("/api/jobs/other", "DELETE")).toHaveLength(1));
    act(() => answer(json({ detail: "The disk is read-only" }, 500)));
    await waitFor(() => expect(entry("other")).toBeDefined());
    expect(screen.getByText(/Could not load history: The disk is read-only/)).toBeInTheDocument();
    expect(listReads(world)).toHaveLength(1);
  });

  it("a cancel answer updates the panel and the entry", async () => {
    world.history = [running];
    world.extra = (req) =>
      req.method === "POST" && req.path === "/api/jobs/run-1/cancel" ? json({ ...running, status: "cancelled", finished_at: "2026-01-01T00:00:09Z" }) : undefined;
    window.history.replaceState(null, "", "/?job=run-1");
    const { user } = await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", running)));
    await user.click(await screen.findByTestId("cancel"));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("cancelled"));
    expect(screen.getByText("This edit was cancelled.")).toBeInTheDocument();
    expect(entry("run-1")).toHaveAttribute("data-status", "cancelled");
    expect(FakeWebSocket.last.closedByClient).toBe(true);
  });
});
