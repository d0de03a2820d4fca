import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { jobReads, listReads, renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { formText } from "./test/fakeServer";
import { fileOf, jobMessage, makeJob, makeLimits, makeProgress, progressMessage } from "./test/fixtures";
import { withClient } from "./test/queryClient";

vi.mock("./lib/imageSize", () => ({
  readImageSize: (file: File) => Promise.resolve(file.name.startsWith("huge") ? { width: 5000, height: 5000 } : { width: 64, height: 64 }),
}));

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

const reason = () => screen.getByTestId("submit-reason").textContent;

describe("App form", () => {
  it("shows the server status and the demo banner", async () => {
    await renderApp(world);
    expect(screen.getByTestId("demo-banner")).toHaveTextContent("Demo model with random weights: outputs are noise");
    expect(screen.getByTestId("model-status")).toHaveTextContent(/tiny.*ready.*cpu/);
  });

  it("on an API node, shows the model of the GPU workers behind it", async () => {
    world.health = { ...world.health, worker_alive: false, workers: 2, model: "Qwen/Qwen-Image-Edit-2511", device: "cuda:0" };
    await renderApp(world);
    expect(screen.getByTestId("model-status")).toHaveTextContent(/Qwen-Image-Edit-2511.*ready/);
    expect(screen.getByTestId("device")).toHaveTextContent("2 GPU workers · cuda:0");
  });

  it("on an API node with no GPU worker behind it, says so and why", async () => {
    const warning = "no GPU worker has been heard from in the last minute: jobs wait in the queue until one runs";
    world.health = { ...world.health, worker_alive: false, workers: 0, model_state: "not_loaded", device: "no worker", warning };
    await renderApp(world);
    expect(screen.getByTestId("model-status")).toHaveTextContent(/tiny.*no worker running/);
    expect(screen.getByTestId("model-status")).not.toHaveTextContent("loads on first edit");
    expect(screen.getByTestId("server-warning")).toHaveTextContent(warning);
  });

  it("says when the server cannot be reached", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    render(<App />, { wrapper: withClient(world.client) });
    await waitFor(() => expect(screen.getByTestId("model-status")).toHaveTextContent("Server offline: Cannot reach the server. Is it running?"));
  });

  it("takes defaults and limits from /api/limits and explains why submit is disabled", async () => {
    const { submit, user } = await renderApp(world);
    expect(submit).toBeDisabled();
    expect(reason()).toBe("Add at least one image.");

    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(1);
    expect(reason()).toMatch(/prompt/);

    await user.type(screen.getByTestId("prompt"), "make it blue");
    expect(submit).toBeEnabled();

    const steps = screen.getByLabelText(/^Steps/);
    expect(steps).toHaveValue(20); // default_steps from the response
    fireEvent.change(steps, { target: { value: "31" } });
    expect(submit).toBeDisabled();
    expect(reason()).toBe("Steps must be a whole number from 2 to 30.");
    expect(steps).toHaveAttribute("aria-invalid", "true");
    fireEvent.change(steps, { target: { value: "30" } });
    expect(submit).toBeEnabled();

    const cfg = screen.getByLabelText(/^Guidance/);
    expect(cfg).toHaveValue(3);
    fireEvent.change(cfg, { target: { value: "10.5" } });
    expect(submit).toBeDisabled();
    expect(reason()).toBe("Guidance must be between 1 and 10.");
    fireEvent.change(cfg, { target: { value: "0.5" } });
    expect(submit).toBeDisabled();
    fireEvent.change(cfg, { target: { value: "7.5" } });
    expect(submit).toBeEnabled();
  });

  it("refuses bad files on the spot and enforces max_images", async () => {
    const { user } = await renderApp(world);
    const input = screen.getByTestId("image-input");
    await user.upload(input, [fileOf("a.gif", "image/gif", 10), fileOf("big.png", "image/png", 20_000), fileOf("huge.png", "image/png", 10)]);
    const errors = await screen.findByTestId("upload-error");
    expect(within(errors).getAllByRole("listitem")).toHaveLength(3);
    expect(errors).toHaveTextContent(/unsupported type/);
    expect(errors).toHaveTextContent(/big\.png/);
    expect(errors).toHaveTextContent(/5000×5000/);
    expect(screen.queryAllByTestId("input-thumb")).toHaveLength(0);

    await user.upload(input, [fileOf("1.png", "image/png", 10), fileOf("2.png", "image/png", 10), fileOf("3.png", "image/png", 10)]);
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(2);
    expect(screen.getByTestId("upload-error")).toHaveTextContent("At most 2 images");
    expect(world.server.callsTo("/api/edit")).toHaveLength(0);
  });

  it("reorders with keyboard-reachable buttons and removes", async () => {
    const { user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), [fileOf("first.png", "image/png", 10), fileOf("second.png", "image/png", 10)]);
    await screen.findAllByTestId("input-thumb");
    await user.click(screen.getByRole("button", { name: "Move image 1 right" }));
    const alts = () => screen.getAllByTestId("input-thumb").map((li) => within(li).getByRole("img").getAttribute("alt"));
    expect(alts()).toEqual(["Input 1: second.png", "Input 2: first.png"]);
    await user.click(screen.getByRole("button", { name: "Remove image 1" }));
    expect(alts()).toEqual(["Input 1: first.png"]);
  });

  it("submits images and settings, then follows the job over its socket without reading it", async () => {
    const { submit, user } = await renderApp(world);
    await waitFor(() => expect(listReads(world)).toHaveLength(1));
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "make it blue");
    await user.click(submit);
    await screen.findByTestId("job-status");
    // Before any socket message, the answer alone shows the job and its history entry.
    expect(screen.getByTestId("job-status")).toHaveTextContent("queued");
    const item = screen.getAllByTestId("history-item");
    expect(item.map((li) => [li.dataset.jobId, li.dataset.status])).toEqual([["new-job", "queued"]]);
    expect(screen.getByText("1 job")).toBeInTheDocument();
    const [posted] = world.server.callsTo("/api/edit", "POST");
    expect(posted?.form?.get("image1")).toBeInstanceOf(File);
    expect(posted?.form?.get("image2")).toBeNull();
    expect(JSON.parse(formText(posted?.form, "config"))).toEqual({
      prompt: "make it blue",
      negative_prompt: "",
      true_cfg_scale: 3,
      num_inference_steps: 20,
      seed: null,
      output_format: "png",
      keep_input_size: false,
      output_size: null,
      num_images: 1,
      lightning: false,
      loras: [],
    });
    expect(window.location.search).toBe("?job=new-job");
    expect(window.localStorage.getItem("qie.currentJob")).toBe("new-job");
    expect(FakeWebSocket.last.url).toMatch(/\/ws\/new-job$/);

    const queued = makeJob({ job_id: "new-job", queue_position: 3, config: { ...makeJob().config, seed: 5 } });
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", queued)));
    expect(await screen.findByTestId("queue-position")).toHaveTextContent("Position 3 in the queue");
    act(() => FakeWebSocket.last.send(jobMessage("status", { ...queued, status: "processing", queue_position: null })));
    act(() =>
      FakeWebSocket.last.send(
        progressMessage("new-job", makeProgress({ progress: 30, step: 6, total_steps: 20, eta_seconds: 14, updated_at: "2026-01-01T00:00:05Z" })),
      ),
    );
    expect(await screen.findByTestId("progress")).toHaveTextContent("Step 6 of 20");
    expect(screen.getByTestId("job-status")).toHaveTextContent("processing");
    expect(screen.getByText("14s left")).toBeInTheDocument();
    expect(screen.getByTestId("cancel")).toBeEnabled();
    expect(screen.getByTestId("result-seed")).toHaveTextContent("5");
    // The submit answer (the whole job) went into the history as it was: no read of the list, nor of the job.
    expect(listReads(world)).toHaveLength(1);
    expect(jobReads(world)).toEqual([]);
  });

  it("shows the server's detail when a submit is refused", async () => {
    const { submit, user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "full");
    await user.click(submit);
    expect(await screen.findByTestId("error-message")).toHaveTextContent("The queue is full; try again in a minute.");
    expect(window.location.search).toBe("");
  });

  it("a dice button fills a random seed within max_seed, and clearing means random", async () => {
    world.limits = makeLimits({ max_seed: 9 });
    const { user } = await renderApp(world);
    const seed = screen.getByLabelText(/^Seed/);
    expect(seed).toHaveValue(null);
    await user.click(screen.getByRole("button", { name: "Random seed" }));
    const value = Number(seed.getAttribute("value"));
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThanOrEqual(9);
    await user.click(screen.getByRole("button", { name: /Clear seed/ }));
    expect(seed).toHaveValue(null);
  });
});
