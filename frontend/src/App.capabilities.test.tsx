/**
 * The page follows the model's capabilities from GET /api/limits (issue 18): one slot per image the model
 * takes, Create mode where it makes images from text alone, <imageN> tags, the no-previews sentence and the
 * model's license.
 */
import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Limits } from "./api/types";
import { renderApp, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { formText } from "./test/fakeServer";
import { fileOf, jobMessage, makeJob, makeLimits, makeProgress } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({ readImageSize: () => Promise.resolve({ width: 64, height: 64 }) }));

const QWEN_RESEARCH = { id: "qwen-research", name: "Qwen Research License", url: "https://example.test/qwen-research-license" };
const NO_PREVIEWS = "Qwen-Image-2.1 has no live preview yet: the result shows when it is done.";

/** What a Qwen-Image-2.1 server answers. */
const limits21 = (overrides: Partial<Limits> = {}): Limits =>
  makeLimits({
    model_name: "Qwen-Image-2.1",
    family: "2.1",
    license: QWEN_RESEARCH,
    min_images: 0,
    max_images: 10,
    text_to_image: true,
    alpha: true,
    no_previews_because: NO_PREVIEWS,
    default_steps: 40,
    default_cfg: 1,
    lightning_steps: [8],
    max_image_bytes: 10_000,
    ...overrides,
  });

let world: AppWorld;

beforeEach(() => {
  world = setUpApp();
});

afterEach(() => {
  vi.unstubAllGlobals();
});

const edits = () => world.server.callsTo("/api/edit", "POST");
const imageParts = (form: FormData | null) => [...(form?.keys() ?? [])].filter((name) => name.startsWith("image"));
const prompt = () => screen.getByTestId<HTMLTextAreaElement>("prompt");
const files = (count: number) => Array.from({ length: count }, (_, i) => fileOf(`photo${i + 1}.png`, "image/png", 100));

describe("slots", () => {
  // Eleven files through the picker: more work than most tests, so more than the default 5 s on a loaded machine.
  it("a 2.1 server gets ten slots, takes ten images, refuses an eleventh, and all ten go up as image1..image10", { timeout: 30_000 }, async () => {
    world.limits = limits21();
    const { submit, user } = await renderApp(world);
    expect(screen.getAllByTestId("empty-slot")).toHaveLength(10);
    expect(screen.getByRole("group", { name: /Images \(0 of 10\)/ })).toBeInTheDocument();

    await user.upload(screen.getByTestId("image-input"), files(11));
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(10);
    expect(screen.queryAllByTestId("empty-slot")).toHaveLength(0);
    expect(screen.getByTestId("upload-error")).toHaveTextContent("At most 10 images per edit; 1 not added.");

    fireEvent.change(prompt(), { target: { value: "put the hat from <image2> on the person in <image1>" } });
    await user.click(submit);
    await waitFor(() => expect(edits()).toHaveLength(1));
    const form = edits()[0]!.form;
    expect(imageParts(form)).toEqual(Array.from({ length: 10 }, (_, i) => `image${i + 1}`));
    const last = form?.get("image10");
    expect(last instanceof File ? last.name : last).toBe("photo10.png");
  });

  it("a 2511 server keeps three", async () => {
    world.limits = makeLimits();
    const { submit, user } = await renderApp(world);
    expect(screen.getAllByTestId("empty-slot")).toHaveLength(3);
    await user.upload(screen.getByTestId("image-input"), files(2));
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(2);
    expect(screen.getAllByTestId("empty-slot")).toHaveLength(1);
    await user.type(prompt(), "swap them");
    await user.click(submit);
    await waitFor(() => expect(edits()).toHaveLength(1));
    expect(imageParts(edits()[0]!.form)).toEqual(["image1", "image2"]);
  });
});

describe("Create mode", () => {
  it("on a server that makes images from text alone, the instruction is enough and no image goes up", async () => {
    world.limits = limits21();
    const { submit, user } = await renderApp(world);
    // Edit is chosen at first: it wants an image, and says where to go without one.
    expect(screen.getByRole("radio", { name: "Edit images" })).toBeChecked();
    await user.type(prompt(), "a lighthouse at dusk");
    expect(submit).toBeDisabled();
    expect(screen.getByTestId("submit-reason")).toHaveTextContent("Add at least one image, or choose Create");

    await user.click(screen.getByRole("radio", { name: "Create" }));
    expect(submit).toBeEnabled();
    expect(submit).toHaveTextContent("Create image");
    expect(screen.getByRole("group", { name: /References \(0 of 10, optional\)/ })).toBeInTheDocument();
    expect(screen.queryByLabelText(/Keep the input size/)).not.toBeInTheDocument();
    await user.click(screen.getByRole("radio", { name: "Shape and size" }));
    await user.selectOptions(screen.getByLabelText("Shape"), "16:9");

    await user.click(submit);
    await waitFor(() => expect(edits()).toHaveLength(1));
    const form = edits()[0]!.form;
    expect(imageParts(form)).toEqual([]);
    const config: unknown = JSON.parse(formText(form, "config"));
    // The server draws the shape at the model's native area.
    expect(config).toMatchObject({ prompt: "a lighthouse at dusk", aspect_ratio: "16:9", output_size: null, keep_input_size: false });
  });

  it("the mode is a radio group the keyboard moves through", async () => {
    world.limits = limits21();
    const { submit, user } = await renderApp(world);
    screen.getByRole("radio", { name: "Edit images" }).focus();
    await user.keyboard("{ArrowRight}");
    expect(screen.getByRole("radio", { name: "Create" })).toBeChecked();
    expect(submit).toHaveTextContent("Create image");
    await user.keyboard("{ArrowLeft}");
    expect(screen.getByRole("radio", { name: "Edit images" })).toBeChecked();
    expect(submit).toHaveTextContent("Edit image");
  });

  it("a server without text to image offers no Create mode and still asks for an image", async () => {
    world.limits = makeLimits();
    const { submit, user } = await renderApp(world);
    expect(screen.queryByRole("radio", { name: "Create" })).not.toBeInTheDocument();
    await user.type(prompt(), "a lighthouse at dusk");
    expect(submit).toBeDisabled();
    expect(submit).toHaveTextContent("Edit image");
    expect(screen.getByTestId("submit-reason")).toHaveTextContent(/^Add at least one image\.$/);
    fireEvent.submit(submit.closest("form")!);
    expect(edits()).toHaveLength(0);
  });
});

describe("Fast", () => {
  it("says what it runs on a model without a Lightning LoRA", async () => {
    world.limits = limits21({ fast: "the base model at 8 steps, guidance off (no published few-step weights confirmed)" });
    const { user } = await renderApp(world);
    const note = screen.getByTestId("fast-note");
    expect(note).toHaveTextContent("Runs the base model at 8 steps, guidance off (no published few-step weights confirmed), instead of 40 steps");
    expect(note).not.toHaveTextContent("Lightning");
    await user.click(screen.getByRole("switch", { name: "Fast" }));
    expect(note).toHaveTextContent(/^Runs the base model at 8 steps, guidance off \(no published few-step weights confirmed\): quicker/);
  });

  it("does not call Fast quicker when the form already asks for fewer steps than it runs", async () => {
    world.limits = limits21({ fast: "the base model at 8 steps, guidance off" });
    const { user } = await renderApp(world);
    const steps = screen.getByLabelText(/^Steps/);
    await user.clear(steps);
    await user.type(steps, "3");
    const note = screen.getByTestId("fast-note");
    expect(note).toHaveTextContent(/^Runs the base model at 8 steps, guidance off, instead of 3 steps\.$/);
    expect(note).not.toHaveTextContent("quicker");
  });
});

describe("Reuse", () => {
  it("a job made from its instruction alone comes back in Create mode, with the images in the form gone", async () => {
    world.limits = limits21();
    window.history.replaceState(null, "", "/?job=made-1");
    const { user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), files(2));
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(2);
    const made = makeJob({
      job_id: "made-1",
      status: "complete",
      queue_position: null,
      inputs: [],
      outputs: ["/api/jobs/made-1/files/output_1.png"],
      config: { ...makeJob().config, prompt: "a lighthouse", aspect_ratio: "3:4", output_size: [864, 1152] },
    });
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", made)));
    await user.click(await screen.findByTestId("reuse-settings"));

    await waitFor(() => expect(screen.queryAllByTestId("input-thumb")).toHaveLength(0));
    expect(screen.getByRole("radio", { name: "Create" })).toBeChecked();
    expect(screen.getByLabelText("Shape")).toHaveValue("3:4");
    expect(prompt()).toHaveValue("a lighthouse");
    expect(screen.getByTestId("submit")).toHaveTextContent("Create image");
  });
});

describe("reference tags", () => {
  it("clicking a reference puts its <imageN> tag into the instruction at the caret", async () => {
    world.limits = limits21();
    const { user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), files(3));
    expect(await screen.findAllByTestId("input-thumb")).toHaveLength(3);

    await user.type(prompt(), "put the hat from  on the person");
    // The caret after "from ".
    prompt().setSelectionRange(17, 17);
    await user.click(screen.getByRole("button", { name: /Insert <image2> into the instruction/ }));
    expect(prompt()).toHaveValue("put the hat from <image2> on the person");
    // The instruction has the focus again, its caret after the tag: typing goes on from there.
    expect(prompt()).toHaveFocus();
    expect(prompt().selectionStart).toBe(25);

    // From the keyboard: each tag button is a button.
    await user.keyboard("{End} in ");
    const third = screen.getByRole("button", { name: /Insert <image3> into the instruction/ });
    act(() => third.focus());
    await user.keyboard("{Enter}");
    expect(prompt()).toHaveValue("put the hat from <image2> on the person in <image3>");
  });

  it("a selection is replaced by the tag", async () => {
    world.limits = limits21();
    const { user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), files(1));
    await screen.findAllByTestId("input-thumb");
    await user.type(prompt(), "make THIS blue");
    prompt().setSelectionRange(5, 9);
    await user.click(screen.getByRole("button", { name: /Insert <image1>/ }));
    expect(prompt()).toHaveValue("make <image1> blue");
  });

  it("a model that takes one image has no tags", async () => {
    world.limits = makeLimits({ max_images: 1 });
    const { user } = await renderApp(world);
    await user.upload(screen.getByTestId("image-input"), files(1));
    const [thumb] = await screen.findAllByTestId("input-thumb");
    expect(within(thumb!).queryByRole("button", { name: /Insert/ })).not.toBeInTheDocument();
    expect(screen.queryAllByTestId("insert-tag")).toHaveLength(0);
  });
});

describe("no previews, and the license", () => {
  it("a running job of a model without previews says why in place of the preview", async () => {
    world.limits = limits21();
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    const running = makeJob({ job_id: "run-1", status: "processing", queue_position: null, inputs: [], progress: makeProgress() });
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", running)));
    expect(await screen.findByTestId("no-previews")).toHaveTextContent(NO_PREVIEWS);
    expect(screen.queryByText("A preview shows here as the result forms")).not.toBeInTheDocument();
  });

  it("a model with previews waits for one", async () => {
    world.limits = makeLimits();
    window.history.replaceState(null, "", "/?job=run-1");
    await renderApp(world);
    const ws = FakeWebSocket.last;
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", makeJob({ job_id: "run-1", status: "processing", queue_position: null, progress: makeProgress() }))));
    expect(await screen.findByText("A preview shows here as the result forms")).toBeInTheDocument();
    expect(screen.queryByTestId("no-previews")).not.toBeInTheDocument();
  });

  it("the footer names the model and links its license", async () => {
    world.health = { ...world.health, model: "Qwen/Qwen-Image-2.1", license: QWEN_RESEARCH };
    world.limits = limits21();
    await renderApp(world);
    // The model's release, from the limits (health names the served model: a path or an id).
    expect(screen.getByTestId("model-footer")).toHaveTextContent("Model Qwen-Image-2.1 · released under the Qwen Research License");
    expect(screen.getByRole("link", { name: "Qwen Research License" })).toHaveAttribute("href", QWEN_RESEARCH.url);
  });
});
