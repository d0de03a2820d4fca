/** Safe keys (Esc, undo of a cancel), a queue strip that scales (one running chip, "+N more", cancel-all), and
 * Back and Forward between opened jobs (issue 21). */
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Job } from "./api/types";
import { renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { json } from "./test/fakeServer";
import { jobMessage, makeJob, makeProgress, progressMessage } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({ readImageSize: () => Promise.resolve({ width: 64, height: 64 }) }));

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
  document.title = "";
});

const config = makeJob().config;
const running = makeJob({ job_id: "run-1", status: "processing", queue_position: null, config: { ...config, prompt: "make it red", seed: 77 } });
const queued = (n: number): Job =>
  makeJob({ job_id: `wait-${n}`, status: "queued", queue_position: n, config: { ...config, prompt: `waiting ${n}` } });

/** The job on screen over its own socket (the last one opened), the strip over the activity socket. */
async function showRunning(job: Job = running) {
  window.history.replaceState(null, "", `/?job=${job.job_id}`);
  const rendered = await renderApp(world);
  act(() => FakeWebSocket.last.open());
  act(() => FakeWebSocket.last.send(jobMessage("snapshot", job)));
  await screen.findByTestId("job-status");
  return rendered;
}

describe("Esc", () => {
  it("cancels nothing while typing in a field", async () => {
    const { user } = await showRunning();
    const prompt = screen.getByTestId("prompt");
    await user.type(prompt, "half a thought");
    await user.keyboard("{Escape}");
    fireEvent.keyDown(prompt, { key: "Escape" });
    expect(world.server.callsTo("/api/jobs/run-1/cancel", "POST")).toHaveLength(0);
  });

  it("never cancels a job that is not on screen", async () => {
    const done = { ...running, job_id: "done-1", status: "complete" as const, outputs: ["/api/jobs/done-1/files/output_1.png"] };
    await showRunning(done);
    act(() => FakeWebSocket.activity.open());
    act(() => FakeWebSocket.activity.send({ type: "active", queue_length: 0, jobs: [running] }));
    await screen.findByTestId("queue-item");
    fireEvent.keyDown(document.body, { key: "Escape" });
    expect(world.server.callsTo("/api/jobs/run-1/cancel", "POST")).toHaveLength(0);
  });

  it("cancels the running job on screen, and Undo requeues it", async () => {
    world.extra = (req) => {
      if (req.path === "/api/jobs/run-1/cancel") return json(running); // still running: it stops at its next step
      if (req.path === "/api/jobs/run-1/undo-cancel")
        return json({ ...running, status: "queued", queue_position: 1, progress: null, requeue_reason: "cancel_undone" });
      return undefined;
    };
    await showRunning();
    fireEvent.keyDown(document.body, { key: "Escape" });
    const toast = await screen.findByTestId("undo-cancel-toast");
    expect(toast).toHaveTextContent("Cancelled “make it red”");
    act(() => FakeWebSocket.last.send(jobMessage("cancelled", { ...running, status: "cancelled" })));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("cancelled"));
    fireEvent.click(within(toast).getByTestId("undo-cancel"));
    await waitFor(() => expect(world.server.callsTo("/api/jobs/run-1/undo-cancel", "POST")).toHaveLength(1));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("queued"));
    expect(screen.queryByTestId("undo-cancel-toast")).toBeNull();
  });
});

describe("the queue strip", () => {
  it("shows one running chip as the real state moves on, and counts the jobs that do not fit", async () => {
    await renderApp(world);
    const ws = FakeWebSocket.activity;
    act(() => ws.open());
    const waiting = Array.from({ length: 60 }, (_, i) => queued(i + 1));
    act(() => ws.send({ type: "active", queue_length: 60, jobs: [running, ...waiting] }));
    await screen.findAllByTestId("queue-item");
    // The first job ends and the next starts: whole-job messages, whose `active` lists a slow page may miss.
    act(() => ws.send(jobMessage("complete", { ...running, status: "complete" })));
    act(() => ws.send(jobMessage("status", { ...waiting[0]!, status: "processing", queue_position: null }, "started")));
    act(() => ws.send(progressMessage("wait-1", makeProgress({ progress: 10, updated_at: "2026-01-01T00:00:09Z" }))));
    await waitFor(() => {
      const runningChips = screen.getAllByTestId("queue-item").filter((li) => li.dataset.phase === "running");
      expect(runningChips.map((li) => li.dataset.jobId)).toEqual(["wait-1"]);
    });
    // The worker claims the next job ahead (it waits, prepared, for the model): that one is not running.
    act(() => ws.send(jobMessage("status", { ...waiting[1]!, status: "processing", queue_position: null }, "started")));
    act(() => ws.send(progressMessage("wait-2", makeProgress({ stage: "preparing", progress: 2, step: null, updated_at: "2026-01-01T00:00:10Z" }))));
    await waitFor(() => expect(screen.getAllByTestId("queue-item").find((li) => li.dataset.jobId === "wait-2")).toHaveAttribute("data-phase", "starting"));
    expect(screen.getAllByTestId("queue-item").filter((li) => li.dataset.phase === "running")).toHaveLength(1);
    const shown = screen.getAllByTestId("queue-item").length;
    expect(screen.getByTestId("queue-more")).toHaveTextContent(`+${60 - shown} more`);
    fireEvent.click(screen.getByTestId("queue-more"));
    expect(within(screen.getByTestId("queue-rest")).getAllByTestId("queue-item")).toHaveLength(60 - shown);
  });

  it("cancels every queued job after a confirmation", async () => {
    world.extra = (req) => (req.path === "/api/jobs/cancel-queued" ? json({ message: "2 queued jobs cancelled", job_ids: ["wait-1", "wait-2"] }) : undefined);
    await renderApp(world);
    act(() => FakeWebSocket.activity.open());
    act(() => FakeWebSocket.activity.send({ type: "active", queue_length: 2, jobs: [running, queued(1), queued(2)] }));
    fireEvent.click(await screen.findByTestId("queue-cancel-all"));
    expect(world.server.callsTo("/api/jobs/cancel-queued", "POST")).toHaveLength(0); // not before the confirmation
    fireEvent.click(screen.getByTestId("queue-cancel-all-confirm"));
    await waitFor(() => expect(world.server.callsTo("/api/jobs/cancel-queued", "POST")).toHaveLength(1));
    await waitFor(() => expect(screen.queryByTestId("queue-cancel-all-confirm")).toBeNull());
  });
});

describe("Back and Forward", () => {
  it("move between the jobs opened", async () => {
    const other = { ...running, job_id: "run-2", status: "queued" as const, queue_position: 1, config: { ...config, prompt: "then blue" } };
    await showRunning();
    act(() => FakeWebSocket.activity.open());
    act(() => FakeWebSocket.activity.send({ type: "active", queue_length: 1, jobs: [running, other] }));
    const chip = (await screen.findAllByTestId("queue-item")).find((li) => li.dataset.jobId === "run-2")!;
    fireEvent.click(within(chip).getAllByRole("button")[0]!);
    await waitFor(() => expect(window.location.search).toBe("?job=run-2"));
    act(() => {
      window.history.back();
    });
    await waitFor(() => expect(window.location.search).toBe("?job=run-1"));
    await waitFor(() => expect(screen.getAllByTestId("queue-item").find((li) => li.dataset.jobId === "run-1")?.querySelector("[aria-current]")).toBeTruthy());
    act(() => {
      window.history.forward();
    });
    await waitFor(() => expect(screen.getAllByTestId("queue-item").find((li) => li.dataset.jobId === "run-2")?.querySelector("[aria-current]")).toBeTruthy());
  });
});
