import { act, fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Health, Limits } from "./api/types";
import { App } from "./App";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { fileOf, makeLimits } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({
  readImageSize: async (file: File) => (file.name.startsWith("huge") ? { width: 5000, height: 5000 } : { width: 64, height: 64 }),
}));

const health: Health = {
  status: "online",
  version: "0.1.0",
  model: "tiny",
  model_state: "ready",
  model_error: null,
  device: "cpu",
  queue_length: 0,
  worker_alive: true,
  demo: true,
};

let limits: Limits;
let posted: FormData | null;

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

beforeEach(() => {
  limits = makeLimits({ max_steps: 30, default_steps: 20, min_cfg: 1, max_cfg: 10, default_cfg: 3, max_images: 2, max_image_bytes: 10_000 });
  posted = null;
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  window.localStorage.clear();
  window.history.replaceState(null, "", "/");
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      if (url === "/api/health") return json(health);
      if (url === "/api/limits") return json(limits);
      if (url.startsWith("/api/jobs?")) return json({ jobs: [], total: 0 });
      if (url === "/api/edit" && init?.method === "POST") {
        posted = init.body as FormData;
        const config = JSON.parse(String(posted.get("config"))) as { prompt: string };
        if (config.prompt === "full") return json({ detail: "The queue is full; try again in a minute." }, 429);
        return json({ job_id: "new-job", status: "queued", message: "Queued", queue_position: 1 }, 202);
      }
      if (url.startsWith("/api/jobs/new-job")) return json({ detail: "not in this test" }, 500);
      return json({ detail: `unexpected ${url}` }, 404);
    }),
  );
});

afterEach(() => {
  vi.unstubAllGlobals();
});

async function renderApp() {
  render(<App />);
  const submit = await screen.findByTestId("submit");
  return { submit, user: userEvent.setup({ applyAccept: false }) };
}

const reason = () => screen.getByTestId("submit-reason").textContent;

describe("App form", () => {
  it("shows the server status and the demo banner", async () => {
    await renderApp();
    expect(screen.getByTestId("demo-banner")).toHaveTextContent("Demo model with random weights: outputs are noise");
    expect(screen.getByTestId("model-status")).toHaveTextContent(/tiny.*ready.*cpu/);
  });

  it("takes defaults and limits from /api/limits and explains why submit is disabled", async () => {
    const { submit, user } = await renderApp();
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
    const { user } = await renderApp();
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
  });

  it("reorders with keyboard-reachable buttons and removes", async () => {
    const { user } = await renderApp();
    await user.upload(screen.getByTestId("image-input"), [fileOf("first.png", "image/png", 10), fileOf("second.png", "image/png", 10)]);
    await screen.findAllByTestId("input-thumb");
    await user.click(screen.getByRole("button", { name: "Move image 1 right" }));
    const alts = () => screen.getAllByTestId("input-thumb").map((li) => within(li).getByRole("img").getAttribute("alt"));
    expect(alts()).toEqual(["Input 1: second.png", "Input 2: first.png"]);
    await user.click(screen.getByRole("button", { name: "Remove image 1" }));
    expect(alts()).toEqual(["Input 1: first.png"]);
  });

  it("submits images and settings, then follows the job via the URL", async () => {
    const { submit, user } = await renderApp();
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "make it blue");
    await user.click(submit);
    await screen.findByTestId("job-status");
    expect(posted?.get("image1")).toBeInstanceOf(File);
    expect(posted?.get("image2")).toBeNull();
    expect(JSON.parse(String(posted?.get("config")))).toEqual({
      prompt: "make it blue",
      negative_prompt: "",
      true_cfg_scale: 3,
      num_inference_steps: 20,
      seed: null,
      output_format: "png",
      keep_input_size: false,
    });
    expect(window.location.search).toBe("?job=new-job");
    expect(window.localStorage.getItem("qie.currentJob")).toBe("new-job");
    expect(FakeWebSocket.last.url).toMatch(/\/ws\/new-job$/);

    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send({ type: "snapshot", job_id: "new-job", status: "queued", progress: null, error: null, queue_position: 3 }));
    expect(screen.getByTestId("queue-position")).toHaveTextContent("Position 3 in the queue");
    act(() =>
      FakeWebSocket.last.send({
        type: "progress",
        job_id: "new-job",
        status: "processing",
        progress: { stage: "denoising", message: "Denoising", progress: 30, step: 6, total_steps: 20, eta_seconds: 14, updated_at: "2026-01-01T00:00:00Z" },
      }),
    );
    expect(screen.getByTestId("progress")).toHaveTextContent("Step 6 of 20");
    expect(screen.getByTestId("job-status")).toHaveTextContent("processing");
    expect(screen.getByText("14s left")).toBeInTheDocument();
    expect(screen.getByTestId("cancel")).toBeEnabled();
  });

  it("shows the server's detail when a submit is refused", async () => {
    const { submit, user } = await renderApp();
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await screen.findAllByTestId("input-thumb");
    await user.type(screen.getByTestId("prompt"), "full");
    await user.click(submit);
    expect(await screen.findByTestId("error-message")).toHaveTextContent("The queue is full; try again in a minute.");
  });

  it("a dice button fills a random seed within max_seed, and clearing means random", async () => {
    limits = makeLimits({ max_seed: 9 });
    const { user } = await renderApp();
    const seed = screen.getByLabelText(/^Seed/);
    expect(seed).toHaveValue(null);
    await user.click(screen.getByRole("button", { name: "Random seed" }));
    const value = Number((seed as HTMLInputElement).value);
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThanOrEqual(9);
    await user.click(screen.getByRole("button", { name: /Clear seed/ }));
    expect(seed).toHaveValue(null);
  });
});
