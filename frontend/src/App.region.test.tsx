/**
 * The region tool on image 1 (issue 20): painting sets the mask (at image 1's pixel size), invert and clear,
 * the brush size keys, the mask sent with the edit, Reuse and Edit this result; and the two issue 18 leftovers
 * in the result (a 2.1 job's Fast row, the flattened note).
 */
import { act, fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { fileOf, jobMessage, makeJob, makeLimits } from "./test/fixtures";
import { blobBytes, decodeMaskPng, encodeMaskPng } from "./features/edit/lib/maskPng";
import type { Job } from "./api/types";

// Image 1 is 64x48; a file named "big…" is 80x60.
vi.mock("./lib/imageSize", () => ({
  readImageSize: (file: File) => Promise.resolve(file.name.includes("big") ? { width: 80, height: 60 } : { width: 64, height: 48 }),
}));

const W = 64;
const H = 48;

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const status = () => screen.getByTestId("region-status");
const canvas = () => screen.getByTestId("region-canvas");

/** The canvas shown at image 1's own size at the page's top left: a screen pixel is an image pixel. */
function layOut(target: HTMLElement, width = W, height = H) {
  vi.spyOn(target, "getBoundingClientRect").mockReturnValue({
    x: 0, y: 0, left: 0, top: 0, width, height, right: width, bottom: height, toJSON: () => ({}),
  });
}

/** A mouse (or pen) drag on the canvas, in its (client) pixels. */
function drag(points: { x: number; y: number }[], pointerType: "mouse" | "pen" = "mouse") {
  const target = canvas();
  const [first, ...rest] = points;
  fireEvent.pointerDown(target, { clientX: first!.x, clientY: first!.y, pointerId: 1, button: 0, pointerType });
  for (const p of rest) fireEvent.pointerMove(target, { clientX: p.x, clientY: p.y, pointerId: 1, pointerType });
  fireEvent.pointerUp(target, { pointerId: 1, pointerType });
}

async function withImage(name = "photo.png") {
  const app = await renderApp(world);
  await app.user.upload(screen.getByTestId("image-input"), fileOf(name, "image/png", 100));
  await screen.findByTestId("region-canvas");
  layOut(canvas());
  return app;
}

const percent = () => Number(/Region: (\d+)% of image 1/.exec(status().textContent ?? "")?.[1]);

describe("painting", () => {
  it("a stroke paints image 1's pixels: the status says how much of it", async () => {
    await withImage();
    expect(status()).toHaveTextContent("No region: the whole image is edited");
    expect(canvas()).toHaveStyle({ touchAction: "none" });
    drag([{ x: 10, y: 10 }, { x: 30, y: 20 }]);
    expect(status()).toHaveTextContent(/^Region: \d+% of image 1$/);
    expect(percent()).toBeGreaterThan(5);
    expect(screen.getByRole("button", { name: "Clear" })).toBeEnabled();
  });

  it("a pen paints as the mouse does", async () => {
    await withImage();
    drag([{ x: 10, y: 10 }, { x: 30, y: 20 }], "pen");
    expect(percent()).toBeGreaterThan(5);
  });

  it("the eraser takes painted pixels away; invert swaps the region; clear empties it", async () => {
    const { user } = await withImage();
    await user.click(screen.getByRole("button", { name: "Invert" }));
    expect(status()).toHaveTextContent("Region: all of image 1 (the whole image is edited)");
    await user.click(screen.getByRole("button", { name: "Invert" }));
    expect(status()).toHaveTextContent("No region: the whole image is edited");

    drag([{ x: 5, y: 24 }, { x: 60, y: 24 }]);
    const painted = percent();
    expect(painted).toBeGreaterThan(0);
    await user.click(screen.getByRole("button", { name: "Eraser" }));
    expect(screen.getByRole("button", { name: "Eraser" })).toHaveAttribute("aria-pressed", "true");
    drag([{ x: 5, y: 24 }, { x: 30, y: 24 }]);
    expect(percent()).toBeLessThan(painted);

    const before = percent();
    await user.click(screen.getByRole("button", { name: "Invert" }));
    expect(Math.abs(percent() - (100 - before))).toBeLessThanOrEqual(1);
    await user.click(screen.getByRole("button", { name: "Clear" }));
    expect(status()).toHaveTextContent("No region: the whole image is edited");
  });

  it("[ and ] change the brush size, but not while typing the instruction", async () => {
    const { user } = await withImage();
    const size = screen.getByTestId("region-size-value");
    expect(size).toHaveTextContent("32 px");
    await user.keyboard("]");
    expect(size).toHaveTextContent("48 px");
    await user.keyboard("[[[["); // user-event's escape for "[", twice
    expect(size).toHaveTextContent("24 px");
    expect(screen.getByRole("slider", { name: "Brush size" })).toHaveAttribute("aria-valuetext", "24 pixels");

    await user.click(screen.getByTestId("prompt"));
    await user.keyboard("[[x]");
    expect(screen.getByTestId("prompt")).toHaveValue("[x]");
    expect(size).toHaveTextContent("24 px");

    // A bigger brush paints more of image 1 for the same click.
    act(() => screen.getByTestId("prompt").blur());
    drag([{ x: 20, y: 20 }]);
    const small = percent();
    await user.click(screen.getByRole("button", { name: "Clear" }));
    await user.keyboard("]]]");
    drag([{ x: 20, y: 20 }]);
    expect(percent()).toBeGreaterThan(small);
  });
});

describe("submitting", () => {
  it("sends the region as the mask part: a PNG at image 1's size, white where painted", async () => {
    const { user } = await withImage();
    drag([{ x: 10, y: 10 }, { x: 30, y: 10 }]);
    await user.type(screen.getByTestId("prompt"), "make it red");
    await user.click(screen.getByTestId("submit"));
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    const sent = world.server.callsTo("/api/edit", "POST")[0]!.form!.get("mask");
    if (!(sent instanceof Blob)) throw new Error("no mask part was sent");
    const mask = await decodeMaskPng(await blobBytes(sent));
    expect([mask.width, mask.height]).toEqual([W, H]);
    expect(mask.data[10 * W + 20]).toBe(1);
    expect(mask.data[40 * W + 60]).toBe(0);
  });

  it("sends no mask without a region", async () => {
    const { user } = await withImage();
    await user.type(screen.getByTestId("prompt"), "make it red");
    await user.click(screen.getByTestId("submit"));
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    expect(world.server.callsTo("/api/edit", "POST")[0]!.form!.has("mask")).toBe(false);
  });
});

/** A finished masked job on screen, whose files (input, output, mask) the fake server serves. */
async function openMaskedJob(job: Partial<Job> = {}, id = "masked") {
  const stripe = new Uint8Array(W * H);
  for (let x = 0; x < W; x++) for (let y = 0; y < 12; y++) stripe[y * W + x] = 1; // the top quarter
  const png = new Uint8Array(await blobBytes(await encodeMaskPng(stripe, W, H)));
  world.extra = (req) => {
    if (req.path === `/api/jobs/${id}/files/mask.png`) return new Response(png, { headers: { "content-type": "image/png" } });
    if (req.path.startsWith(`/api/jobs/${id}/files/`)) return new Response(new Uint8Array(50), { headers: { "content-type": "image/png" } });
    return undefined;
  };
  window.history.replaceState(null, "", `/?job=${id}`);
  const app = await renderApp(world);
  const done = makeJob({
    job_id: id,
    status: "complete",
    queue_position: null,
    inputs: [`/api/jobs/${id}/files/input_1.png`],
    outputs: [`/api/jobs/${id}/files/output_1.png`],
    mask: `/api/jobs/${id}/files/mask.png`,
    region: { approach: "latent-mask", crop_box: null, working_size: [64, 48] },
    ...job,
  });
  const ws = FakeWebSocket.last;
  act(() => ws.open());
  act(() => ws.send(jobMessage("snapshot", done)));
  await screen.findByTestId("reuse-settings");
  return app;
}

describe("Reuse and Edit this result", () => {
  it("Reuse brings the job's region back onto image 1", async () => {
    const { user } = await openMaskedJob();
    expect(screen.getByTestId("reuse-settings")).toHaveTextContent("Reuse inputs, region and settings");
    await user.click(screen.getByTestId("reuse-settings"));
    await waitFor(() => expect(status()).toHaveTextContent("Region: 25% of image 1"));
  });

  it("Edit this result keeps the region when the result has image 1's size", async () => {
    const { user } = await openMaskedJob();
    await user.click(screen.getByTestId("reuse-settings"));
    await waitFor(() => expect(status()).toHaveTextContent("Region: 25% of image 1"));
    await user.click(screen.getByTestId("edit-result"));
    await waitFor(() => expect(screen.getByTestId("region-notice")).toHaveTextContent("The region was kept"));
    expect(status()).toHaveTextContent("Region: 25% of image 1");
  });

  it("Edit this result clears the region, saying so, when the new image 1 has another size", async () => {
    // The result comes into the form as edited_masked-big.png: 80x60, where image 1 was 64x48.
    const { user } = await openMaskedJob({}, "masked-big");
    await user.click(screen.getByTestId("reuse-settings"));
    await waitFor(() => expect(status()).toHaveTextContent("Region: 25% of image 1"));
    await user.click(screen.getByTestId("edit-result"));
    await waitFor(() => expect(screen.getByTestId("region-notice")).toHaveTextContent("The region was cleared: the new image 1 is 80×60"));
    expect(status()).toHaveTextContent("No region: the whole image is edited");
  });

  it("the result can outline the region", async () => {
    const { user } = await openMaskedJob();
    expect(screen.queryByTestId("region-outline")).not.toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Show region outline" }));
    expect(screen.getByTestId("region-outline").querySelector("image")).toHaveAttribute("href", "/api/jobs/masked/files/mask.png");
    expect(screen.getByRole("button", { name: "Hide region outline" })).toHaveAttribute("aria-pressed", "true");
  });
});

describe("issue 18 leftovers", () => {
  it("a finished 2.1 job's Fast row says what Fast ran (limits.fast), and a flattened result says so", async () => {
    world.limits = makeLimits({ family: "2.1", fast: "the base model at 8 steps, guidance off", lightning_steps: [8] });
    await openMaskedJob({ flattened: true, config: { ...makeJob().config, lightning: true, num_inference_steps: 8 } });
    expect(screen.getByTestId("result-fast")).toHaveTextContent("Runs the base model at 8 steps, guidance off");
    expect(screen.getByTestId("result-fast")).not.toHaveTextContent("Lightning");
    expect(screen.getByTestId("flattened-note")).toHaveTextContent("Transparency was flattened on white for JPEG; choose PNG or WebP to keep it");
  });

  it("a Lightning job's Fast row names Lightning's steps; no note without flattening", async () => {
    await openMaskedJob({ config: { ...makeJob().config, lightning: true, num_inference_steps: 4 } });
    expect(screen.getByTestId("result-fast")).toHaveTextContent("Lightning, 4 steps");
    expect(screen.queryByTestId("flattened-note")).not.toBeInTheDocument();
  });
});
