import { act, fireEvent, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../../api/types";
import type { JobWatch } from "../lib/jobState";
import { makeJob } from "../../../test/fixtures";
import { JobPanel } from "./JobPanel";

const outputs = [1, 2, 3, 4].map((n) => `/api/jobs/job-1/files/output_${n}.png`);
const input = "/api/jobs/job-1/files/input_1.png";

function panel(overrides: Partial<Job> = {}) {
  const job = makeJob({ status: "complete", inputs: [input], outputs, ...overrides, config: { ...makeJob().config, seed: 987, num_images: 4 } });
  const handlers = { onCancel: vi.fn(), onEditResult: vi.fn(), onReuse: vi.fn(), onClose: vi.fn() };
  const watch: JobWatch = { jobId: "job-1", job, connection: "live", notFound: false, preview: null };
  render(<JobPanel view={watch} cancelling={false} actionError={null} {...handlers} />);
  return { job, ...handlers };
}

const shown = () => screen.getByTestId("result-image").getAttribute("src");

describe("JobResult: variations", () => {
  it("moves between the results with the arrow keys, stopping at the ends", () => {
    panel();
    expect(shown()).toBe(outputs[0]);
    fireEvent.keyDown(document.body, { key: "ArrowRight" });
    fireEvent.keyDown(document.body, { key: "ArrowRight" });
    expect(shown()).toBe(outputs[2]);
    expect(screen.getByTestId("picked-seed")).toHaveTextContent("989");
    expect(screen.getByTestId("download")).toHaveAttribute("href", "/api/jobs/job-1/download?index=3");
    for (let i = 0; i < 5; i++) fireEvent.keyDown(document.body, { key: "ArrowLeft" });
    expect(shown()).toBe(outputs[0]);
  });

  it("reuses the picked result's own seed, with one image", async () => {
    const { job, onReuse } = panel();
    await userEvent.click(screen.getAllByTestId("variation")[2]!);
    await userEvent.click(screen.getByTestId("reuse-settings"));
    expect(onReuse).toHaveBeenCalledWith({ ...job.config, seed: 989, num_images: 1 }, job.inputs, null);
  });

  it("shows all results in a grid: a click picks, a second click opens the picked one", async () => {
    panel();
    await userEvent.click(screen.getByTestId("show-grid"));
    const grid = screen.getByTestId("variation-grid");
    const cells = within(grid).getAllByTestId("grid-variation");
    expect(cells).toHaveLength(4);
    expect(cells[3]).toHaveAccessibleName("Result 4, seed 990");
    // The actions stay, for the picked one.
    await userEvent.click(cells[1]!);
    expect(cells[1]).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("download")).toHaveTextContent("Download 2");
    act(() => {
      fireEvent.keyDown(document.body, { key: "ArrowRight" });
    });
    expect(cells[2]).toHaveAttribute("aria-pressed", "true");
    await userEvent.click(cells[2]!);
    expect(screen.queryByTestId("variation-grid")).toBeNull();
    expect(shown()).toBe(outputs[2]);
  });

  it("compares the picked result with the input, another result, or nothing", async () => {
    panel();
    const before = () => screen.getByTestId("compare-before").querySelector("img")?.getAttribute("src");
    expect(before()).toBe(input);
    await userEvent.selectOptions(screen.getByTestId("compare-with"), "result-3");
    expect(before()).toBe(outputs[3]);
    expect(screen.getByRole("slider")).toHaveAccessibleName("Compare result 4 and result 1");
    await userEvent.selectOptions(screen.getByTestId("compare-with"), "none");
    expect(screen.queryByTestId("compare-before")).toBeNull();
  });

  it("compares a masked job's result with image 1, the picture its region was painted on", () => {
    const inputs = [input, "/api/jobs/job-1/files/input_2.png"];
    const before = () => screen.getByTestId("compare-before").querySelector("img");
    panel({ inputs, outputs: [outputs[0]!], mask: "/api/jobs/job-1/files/mask.png" });
    expect(before()?.getAttribute("src")).toBe(input);
    expect(before()?.getAttribute("alt")).toBe("Image 1");
  });

  it("compares a job without a region with its last image", () => {
    panel({ inputs: [input, "/api/jobs/job-1/files/input_2.png"], outputs: [outputs[0]!] });
    expect(screen.getByTestId("compare-before").querySelector("img")?.getAttribute("src")).toBe("/api/jobs/job-1/files/input_2.png");
  });
});

describe("ResultViewer", () => {
  it("says the result's size in pixels once it has loaded, and zooms to 100 % and back to fit", async () => {
    panel({ outputs: [outputs[0]!] });
    expect(screen.queryByTestId("show-grid")).toBeNull();
    const image = screen.getByTestId("result-image");
    Object.defineProperty(image, "naturalWidth", { value: 1248 });
    Object.defineProperty(image, "naturalHeight", { value: 832 });
    fireEvent.load(image);
    expect(screen.getByTestId("result-size")).toHaveTextContent("1248 × 832 px");
    expect(screen.getByTestId("zoom-fit")).toHaveAttribute("aria-pressed", "true");
    fireEvent.keyDown(document.body, { key: "1" });
    expect(screen.getByTestId("zoom-100")).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("zoom-level")).toHaveTextContent("100 %");
    expect(image.style.width).toBe("1248px");
    expect(image.style.height).toBe("832px");
    await userEvent.click(screen.getByTestId("zoom-fit"));
    expect(screen.getByTestId("zoom-fit")).toHaveAttribute("aria-pressed", "true");
  });
});
