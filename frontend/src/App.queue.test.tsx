/** The live queue (WS /ws), variations, honest offline states, recall and the keyboard. */
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { json } from "./test/fakeServer";
import { fileOf, jobMessage, makeJob, makeProgress, progressMessage } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({ readImageSize: () => Promise.resolve({ width: 64, height: 64 }) }));

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
  document.title = "";
});

const running = makeJob({ job_id: "run-1", status: "processing", queue_position: null, config: { ...makeJob().config, prompt: "make it red" } });
const waiting = makeJob({ job_id: "wait-1", status: "queued", queue_position: 1, config: { ...makeJob().config, prompt: "then blue" } });

describe("App: the live queue", () => {
  it("shows every active job from WS /ws with its place or progress, and the header's count, without polling", async () => {
    await renderApp(world);
    const ws = FakeWebSocket.activity;
    act(() => ws.open());
    act(() => ws.send({ type: "active", queue_length: 3, jobs: [running, waiting] }));
    const items = await screen.findAllByTestId("queue-item");
    expect(items.map((li) => li.dataset.jobId)).toEqual(["run-1", "wait-1"]);
    expect(within(items[1]!).getByTestId("queue-where")).toHaveTextContent("next");
    expect(screen.getByTestId("queue-length")).toHaveTextContent("3 in queue");

    act(() => ws.send(progressMessage("run-1", makeProgress({ progress: 45, updated_at: "2026-01-01T00:00:09Z" }))));
    expect(within(screen.getAllByTestId("queue-item")[0]!).getByTestId("queue-where")).toHaveTextContent("running 45%");

    // A change: the whole job, then the active list again.
    act(() => ws.send(jobMessage("complete", { ...running, status: "complete", outputs: ["/api/jobs/run-1/files/output_1.png"] })));
    act(() => ws.send({ type: "active", queue_length: 0, jobs: [{ ...waiting, status: "processing", queue_position: null }] }));
    await waitFor(() => expect(screen.getAllByTestId("queue-item")).toHaveLength(1));
    expect(screen.getByTestId("queue-length")).toHaveTextContent("0 in queue");
    // The history heard of the finished job from the same socket.
    expect(screen.getAllByTestId("history-item").find((li) => li.dataset.jobId === "run-1")).toHaveAttribute("data-status", "complete");
  });

  it("a second submit keeps the running job on screen", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    const { submit, user } = await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", running)));
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "another");
    await user.click(submit);
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    expect(window.location.search).toBe("?job=run-1");
    expect(screen.getByTestId("job-status")).toHaveTextContent("processing");
  });
});

describe("App: variations", () => {
  it("shows every output to pick from, each with its own seed and download", async () => {
    const outputs = [1, 2, 3, 4].map((n) => `/api/jobs/run-1/files/output_${n}.png`);
    const done = { ...running, status: "complete" as const, outputs, config: { ...running.config, seed: 10, num_images: 4 } };
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", done)));
    const variations = await screen.findAllByTestId("variation");
    expect(variations).toHaveLength(4);
    fireEvent.click(variations[2]!);
    expect(screen.getByTestId("result-image")).toHaveAttribute("src", outputs[2]);
    expect(screen.getByTestId("picked-seed")).toHaveTextContent("12");
    expect(screen.getByTestId("download")).toHaveAttribute("href", "/api/jobs/run-1/download?index=3");
    expect(screen.getByTestId("download-all")).toHaveAttribute("href", "/api/jobs/run-1/download.zip");
  });

  it("asks for the number of images picked", async () => {
    const { submit, user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "four of them");
    await user.selectOptions(screen.getByTestId("num-images"), "4");
    await user.click(submit);
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    const config = world.server.callsTo("/api/edit", "POST")[0]?.form?.get("config");
    expect(typeof config === "string" && JSON.parse(config)).toMatchObject({ num_images: 4 });
  });
});

describe("App: honest states", () => {
  it("says offline when the live socket drops: grey dot, banner, no countdown; back when it reopens", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", { ...running, progress: makeProgress({ eta_seconds: 10 }) })));
    expect(await screen.findByText("10s left")).toBeInTheDocument();
    const activity = FakeWebSocket.activity;
    act(() => activity.open());
    act(() => activity.drop());
    expect(await screen.findByTestId("offline-banner")).toBeInTheDocument();
    expect(screen.getByTestId("model-status").querySelector("[data-model-state]")).toHaveAttribute("data-model-state", "unknown");
    expect(screen.getByTestId("eta")).toHaveTextContent("paused: server offline");
    await waitFor(() => expect(FakeWebSocket.activity).not.toBe(activity), { timeout: 2000 });
    act(() => FakeWebSocket.activity.open());
    await waitFor(() => expect(screen.queryByTestId("offline-banner")).toBeNull());
  });

  it("says a job was requeued after a restart, and 'finishing' without a countdown past the last step", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("status", { ...running, status: "queued", queue_position: 1, requeue_reason: "restart" }, "requeued")));
    expect(await screen.findByTestId("requeued")).toHaveTextContent("Requeued after a server restart");
    act(() =>
      FakeWebSocket.last.send(
        progressMessage("run-1", makeProgress({ stage: "decoding", step: 10, total_steps: 10, eta_seconds: 0, progress: 95, updated_at: "2026-01-01T00:01:00Z" })),
      ),
    );
    expect(await screen.findByTestId("eta")).toHaveTextContent("finishing…");
    expect(screen.queryByText("0s left")).toBeNull();
    expect(document.title).toBe("[95%] Qwen Image Editor");
  });
});

describe("App: recall and the keyboard", () => {
  it("Edit this result keeps the job's reference picture and replaces only the edited one", async () => {
    const done = {
      ...running,
      status: "complete" as const,
      inputs: ["/api/jobs/run-1/files/input_1.png", "/api/jobs/run-1/files/input_2.png"],
      outputs: ["/api/jobs/run-1/files/output_1.png"],
    };
    world.extra = (req) => (req.path.startsWith("/api/jobs/run-1/files/") ? new Response(new Uint8Array(50), { headers: { "content-type": "image/png" } }) : undefined);
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", done)));
    fireEvent.click(await screen.findByTestId("edit-result"));
    await waitFor(() => expect(screen.getAllByTestId("input-thumb")).toHaveLength(2));
    const alts = screen.getAllByTestId("input-thumb").map((li) => within(li).getByRole("img").getAttribute("alt"));
    expect(alts).toEqual(["Input 1: reference1_run-1.png", "Input 2: edited_run-1.png"]);
  });

  it("Ctrl+Enter submits from anywhere and Esc cancels the running job", async () => {
    world.extra = (req) => (req.path === "/api/jobs/run-1/cancel" ? json({ ...running, status: "cancelled" }) : undefined);
    window.history.replaceState(null, "", "/?job=run-1");
    const { user } = await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", running)));
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "by keyboard");
    fireEvent.keyDown(document.body, { key: "Enter", ctrlKey: true });
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    fireEvent.keyDown(document.body, { key: "Escape" });
    await waitFor(() => expect(world.server.callsTo("/api/jobs/run-1/cancel", "POST")).toHaveLength(1));
    await waitFor(() => expect(screen.getByTestId("job-status")).toHaveTextContent("cancelled"));
  });
});
