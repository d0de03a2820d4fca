/** Fast (Lightning), the LoRA picker, reusing them, and the live preview in the progress panel. */
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EditRequest, LoraView } from "./api/types";
import { renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { formText } from "./test/fakeServer";
import { fileOf, jobMessage, makeJob, makeLimits, makeProgress, progressMessage } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({ readImageSize: () => Promise.resolve({ width: 64, height: 64 }) }));

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

const lora = (name: string, overrides: Partial<LoraView> = {}): LoraView => ({ name, size_bytes: 2 * 1024 * 1024, matches: true, reason: null, ...overrides });

/** The config of the one edit posted. */
function postedConfig(): unknown {
  const [posted] = world.server.callsTo("/api/edit", "POST");
  return JSON.parse(formText(posted?.form, "config"));
}

async function fillForm(user: Awaited<ReturnType<typeof renderApp>>["user"], prompt = "make it fast") {
  await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
  await screen.findAllByTestId("input-thumb");
  await user.type(screen.getByTestId("prompt"), prompt);
}

describe("App: Fast", () => {
  it("asks for Lightning and shows the steps and guidance that will run", async () => {
    world.limits = makeLimits({ default_steps: 20, default_cfg: 3, lightning_steps: [4, 8] });
    const { submit, user } = await renderApp(world);
    await fillForm(user);
    const fast = screen.getByRole("switch", { name: "Fast" });
    expect(fast).not.toBeChecked();
    expect(screen.getByTestId("steps")).toHaveValue(20);

    await user.click(fast);
    expect(fast).toBeChecked();
    expect(screen.getByTestId("fast-note")).toHaveTextContent("Lightning: 8 steps, guidance off");
    // The steps and guidance controls show what will run, not what was typed before.
    expect(screen.queryByTestId("steps")).toBeNull();
    expect(screen.getByTestId("fast-steps")).toHaveValue("8");
    expect(within(screen.getByTestId("fast-steps")).getAllByRole("option").map((o) => o.textContent)).toEqual(["4", "8"]);
    expect(screen.getByTestId("cfg")).toBeDisabled();
    expect(screen.getByTestId("cfg")).toHaveValue(1);

    await user.selectOptions(screen.getByTestId("fast-steps"), "4");
    expect(screen.getByTestId("fast-note")).toHaveTextContent("Lightning: 4 steps");
    await user.click(submit);
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    expect(postedConfig()).toMatchObject({ lightning: true, num_inference_steps: 4, true_cfg_scale: 1, loras: [] });

    // Off again: the ordinary steps and guidance are as they were.
    await user.click(fast);
    expect(screen.getByTestId("steps")).toHaveValue(20);
    expect(screen.getByTestId("cfg")).toHaveValue(3);
    expect(screen.getByTestId("cfg")).toBeEnabled();
  });

  it("is not held back by ordinary steps out of range, which it does not send", async () => {
    const { submit, user } = await renderApp(world);
    await fillForm(user);
    await user.click(screen.getByText("Advanced settings"));
    await user.clear(screen.getByTestId("steps"));
    await user.type(screen.getByTestId("steps"), "999");
    expect(submit).toBeDisabled();
    await user.click(screen.getByRole("switch", { name: "Fast" }));
    expect(submit).toBeEnabled();
  });
});

describe("App: LoRAs", () => {
  it("lists the server's LoRAs, picks up to max_loras with weights, never a mismatched one", async () => {
    world.limits = makeLimits({ max_loras: 2, min_lora_weight: -1, max_lora_weight: 1.5 });
    world.loras = [lora("style"), lora("ink", { size_bytes: 512 * 1024 }), lora("sdxl-thing", { matches: false, reason: "made for another model" }), lora("watercolor")];
    const { submit, user } = await renderApp(world);
    await fillForm(user);
    const add = await screen.findByTestId("lora-add");
    await waitFor(() => expect(within(add).getAllByRole("option")).toHaveLength(5));
    const option = (name: string) => within(add).getAllByRole<HTMLOptionElement>("option").find((o) => o.value === name)!;
    expect(option("style")).toHaveTextContent("style · 2.0 MB");
    expect(option("ink")).toHaveTextContent("ink · 512 KB");
    expect(option("sdxl-thing")).toBeDisabled();
    expect(option("sdxl-thing")).toHaveTextContent("does not fit the loaded model: made for another model");
    expect(screen.getByText(/up to 2; weight -1 to 1.5/)).toBeInTheDocument();

    await user.selectOptions(add, "style");
    const weight = screen.getByRole("spinbutton", { name: "Weight of style" });
    expect(weight).toHaveValue(1);
    await user.clear(weight);
    await user.type(weight, "0.8");
    expect(screen.getByRole("slider", { name: "Weight of style (slider)" })).toHaveValue("0.8");
    expect(option("style")).toBeDisabled(); // picked once only

    // A weight out of range is refused before sending.
    await user.selectOptions(add, "ink");
    const inkWeight = screen.getByRole("spinbutton", { name: "Weight of ink" });
    fireEvent.change(inkWeight, { target: { value: "3" } });
    expect(inkWeight).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByTestId("submit-reason")).toHaveTextContent("The weight of ink must be between -1 and 1.5.");
    fireEvent.change(screen.getByRole("slider", { name: "Weight of ink (slider)" }), { target: { value: "1.25" } });
    expect(inkWeight).toHaveValue(1.25);

    // Full: no third.
    expect(add).toBeDisabled();
    expect(within(add).getAllByRole("option")[0]).toHaveTextContent("At most 2 LoRAs per edit");
    await user.click(submit);
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    expect(postedConfig()).toMatchObject({
      lightning: false,
      loras: [
        { name: "style", weight: 0.8 },
        { name: "ink", weight: 1.25 },
      ],
    });

    await user.click(screen.getByRole("button", { name: "Remove LoRA style" }));
    expect(screen.getAllByTestId("lora-item").map((li) => li.dataset.name)).toEqual(["ink"]);
    expect(add).toBeEnabled();
  });

  it("says when the server has none", async () => {
    await renderApp(world);
    expect(await screen.findByText(/None on this server/)).toBeInTheDocument();
    expect(screen.queryByTestId("lora-add")).toBeNull();
  });
});

describe("App: reuse", () => {
  const fastConfig: EditRequest = {
    ...makeJob().config,
    prompt: "in style",
    lightning: true,
    num_inference_steps: 4,
    true_cfg_scale: 1,
    loras: [{ name: "style", weight: 0.5 }],
  };
  const done = makeJob({ job_id: "fast-1", status: "complete", queue_position: null, config: fastConfig, inputs: ["/api/jobs/fast-1/files/input_1.png"], outputs: ["/api/jobs/fast-1/files/output_1.png"] });

  it("shows Lightning and LoRAs in the job's settings, and Reuse brings them back into the form", async () => {
    world.loras = [lora("style")];
    world.limits = makeLimits({ default_steps: 20, default_cfg: 3 });
    world.extra = (req) => (req.path.startsWith("/api/jobs/fast-1/files/") ? new Response(new Uint8Array(50), { headers: { "content-type": "image/png" } }) : undefined);
    window.history.replaceState(null, "", "/?job=fast-1");
    const { submit, user } = await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", done)));
    expect(await screen.findByTestId("result-fast")).toHaveTextContent("Lightning, 4 steps");
    expect(screen.getByTestId("result-loras")).toHaveTextContent("style 0.5");

    await user.click(screen.getByTestId("reuse-settings"));
    await waitFor(() => expect(screen.getAllByTestId("input-thumb")).toHaveLength(1));
    expect(screen.getByRole("switch", { name: "Fast" })).toBeChecked();
    expect(screen.getByTestId("fast-steps")).toHaveValue("4");
    expect(screen.getAllByTestId("lora-item").map((li) => li.dataset.name)).toEqual(["style"]);
    expect(screen.getByRole("spinbutton", { name: "Weight of style" })).toHaveValue(0.5);
    // Lightning's stored 4 steps and guidance 1 do not replace the ordinary ones.
    await user.click(screen.getByRole("switch", { name: "Fast" }));
    expect(screen.getByTestId("steps")).toHaveValue(20);
    expect(screen.getByTestId("cfg")).toHaveValue(3);
    await user.click(screen.getByRole("switch", { name: "Fast" }));

    await user.click(submit);
    await waitFor(() => expect(world.server.callsTo("/api/edit", "POST")).toHaveLength(1));
    expect(postedConfig()).toMatchObject({ prompt: "in style", lightning: true, num_inference_steps: 4, true_cfg_scale: 1, loras: [{ name: "style", weight: 0.5 }] });
  });

  it("warns about a reused LoRA the server no longer has, and will not send it", async () => {
    world.loras = [lora("other")];
    world.extra = (req) => (req.path.startsWith("/api/jobs/fast-1/files/") ? new Response(new Uint8Array(50), { headers: { "content-type": "image/png" } }) : undefined);
    window.history.replaceState(null, "", "/?job=fast-1");
    const { user } = await renderApp(world);
    act(() => FakeWebSocket.last.open());
    act(() => FakeWebSocket.last.send(jobMessage("snapshot", done)));
    await user.click(await screen.findByTestId("reuse-settings"));
    expect(await screen.findByTestId("lora-warning")).toHaveTextContent("Not on the server any more");
    expect(screen.getByTestId("submit")).toBeDisabled();
    expect(screen.getByTestId("submit-reason")).toHaveTextContent("The LoRA style is not on the server");
  });
});

describe("App: the live preview", () => {
  const running = makeJob({ job_id: "run-1", status: "processing", queue_position: null, inputs: ["/api/jobs/run-1/files/input_1.png"] });
  const at = (s: number) => `2026-01-01T00:00:${String(s).padStart(2, "0")}Z`;
  const preview = (s: number, url: string) => ({ ...progressMessage("run-1", makeProgress({ step: s, updated_at: at(s) })), preview: url });

  it("shows the latest preview from the job's socket in a box that does not move, then the result instead", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", running)));
    // Before the first picture, the box is there already (the input, faded), so nothing jumps when it comes.
    expect(await screen.findByText("A preview shows here as the result forms")).toBeInTheDocument();
    expect(screen.queryByTestId("preview")).toBeNull();

    act(() => ws.send(preview(1, "data:image/webp;base64,AAAA")));
    const img = await screen.findByRole("img", { name: "Live preview of the result as it forms" });
    expect(img).toHaveAttribute("src", "data:image/webp;base64,AAAA");
    // A progress message without a picture keeps the last one.
    act(() => ws.send(progressMessage("run-1", makeProgress({ step: 2, updated_at: at(2) }))));
    expect(screen.getByTestId("preview")).toHaveAttribute("src", "data:image/webp;base64,AAAA");
    act(() => ws.send(preview(3, "data:image/webp;base64,BBBB")));
    expect(screen.getByTestId("preview")).toHaveAttribute("src", "data:image/webp;base64,BBBB");

    act(() => ws.send(jobMessage("complete", { ...running, status: "complete", outputs: ["/api/jobs/run-1/files/output_1.png"] })));
    expect(await screen.findByTestId("result-image")).toHaveAttribute("src", "/api/jobs/run-1/files/output_1.png");
    expect(screen.queryByTestId("preview")).toBeNull();
  });

  it("takes the running job's steps and preview from its own socket alone; WS /ws moves only the strip", async () => {
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    const ws = FakeWebSocket.last;
    const activity = FakeWebSocket.activity;
    act(() => ws.open());
    act(() => activity.open());
    act(() => ws.send(jobMessage("snapshot", running)));
    act(() => activity.send({ type: "active", queue_length: 0, jobs: [running] }));
    act(() => ws.send(preview(5, "data:image/webp;base64,JOB5")));
    expect(await screen.findByTestId("preview")).toHaveAttribute("src", "data:image/webp;base64,JOB5");
    const result = screen.getByRole("region", { name: "Result" });
    expect(within(result).getByText(/Step 5 of/)).toBeInTheDocument();
    // A later step over WS /ws: the job's own socket will tell it too, so the panel does not take it from here.
    act(() => activity.send(preview(6, "data:image/webp;base64,ALL6")));
    expect(screen.getByTestId("preview")).toHaveAttribute("src", "data:image/webp;base64,JOB5");
    expect(within(result).getByText(/Step 5 of/)).toBeInTheDocument();
    act(() => ws.send(preview(7, "data:image/webp;base64,JOB7")));
    expect(screen.getByTestId("preview")).toHaveAttribute("src", "data:image/webp;base64,JOB7");
    expect(within(result).getByText(/Step 7 of/)).toBeInTheDocument();
  });
});
