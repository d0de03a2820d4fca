import { cleanup, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Job } from "../../../api/types";
import type { JobWatch } from "../lib/jobState";
import { makeJob, makeProgress } from "../../../test/fixtures";
import { ALL_JOBS } from "../../history/lib/jobList";
import { HistoryGallery } from "../../history/components/HistoryGallery";
import { JobPanel } from "./JobPanel";

function panel(job: Partial<Job> | null, view: Partial<JobWatch> = {}) {
  const handlers = { onCancel: vi.fn(), onEditResult: vi.fn(), onReuse: vi.fn(), onClose: vi.fn() };
  const watch: JobWatch = { jobId: "job-1", job: job && makeJob(job), connection: "live", notFound: false, preview: null, ...view };
  render(<JobPanel view={watch} cancelling={false} actionError={null} {...handlers} />);
  return handlers;
}

describe("JobPanel", () => {
  it("shows step, eta and a cancel button while processing", async () => {
    const h = panel({ status: "processing", progress: makeProgress({ step: 7, total_steps: 40, eta_seconds: 65, progress: 17.5 }) });
    expect(screen.getByTestId("progress")).toHaveTextContent("Step 7 of 40");
    expect(screen.getByText("1m 05s left")).toBeInTheDocument();
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "18");
    await userEvent.click(screen.getByTestId("cancel"));
    expect(h.onCancel).toHaveBeenCalledOnce();
  });

  it("offers cancel while queued", () => {
    panel({ status: "queued", queue_position: 1 });
    expect(screen.getByTestId("queue-position")).toHaveTextContent("Next in the queue");
    expect(screen.getByTestId("cancel")).toBeInTheDocument();
  });

  it("shows the result against the last input, with download, edit and reuse", async () => {
    const job = makeJob({
      status: "complete",
      inputs: ["/api/jobs/job-1/files/input_1.png", "/api/jobs/job-1/files/input_2.png"],
      outputs: ["/api/jobs/job-1/files/output_1.png"],
    });
    const h = panel(job);
    expect(screen.getByTestId("result-image")).toHaveAttribute("src", "/api/jobs/job-1/files/output_1.png");
    expect(screen.getByAltText("Original input")).toHaveAttribute("src", "/api/jobs/job-1/files/input_2.png");
    expect(screen.getByTestId("download")).toHaveAttribute("href", "/api/jobs/job-1/download");
    expect(screen.getByTestId("result-seed")).toHaveTextContent("42");
    expect(screen.queryByTestId("cancel")).toBeNull();
    await userEvent.click(screen.getByTestId("edit-result"));
    expect(h.onEditResult).toHaveBeenCalledOnce();
    await userEvent.click(screen.getByTestId("reuse-settings"));
    expect(h.onReuse).toHaveBeenCalledWith(job.config, job.inputs, null);
  });

  it("says when it is reconnecting and when the job is gone", () => {
    panel({ status: "processing" }, { connection: "polling" });
    expect(screen.getByText("reconnecting…")).toBeInTheDocument();
    cleanup();
    panel(null, { notFound: true, connection: "idle" });
    expect(screen.getByTestId("error-message")).toHaveTextContent("This job no longer exists");
    expect(screen.getByTestId("job-status")).toHaveTextContent("loading");
  });

  it("shows the error text of a failed job", () => {
    panel({ status: "error", error: "CUDA out of memory: try fewer pixels" });
    expect(screen.getByTestId("error-message")).toHaveTextContent("CUDA out of memory: try fewer pixels");
    expect(screen.getByTestId("job-status")).toHaveTextContent("error");
  });
});

describe("HistoryGallery", () => {
  it("lists jobs with id and status attributes, opens and deletes them", async () => {
    const onOpen = vi.fn();
    const onDelete = vi.fn();
    const jobs = [
      makeJob({ job_id: "b", status: "processing", config: { ...makeJob().config, prompt: "second" } }),
      makeJob({ job_id: "a", status: "complete", thumbnail: "/api/jobs/a/files/thumb.webp" }),
    ];
    render(
      <HistoryGallery
        jobs={jobs}
        total={2}
        pages={1}
        filter={ALL_JOBS}
        onFilter={() => {}}
        onStar={() => {}}
        error={null}
        loaded
        currentJobId="a"
        now={Date.parse("2026-01-01T00:05:00Z")}
        onOpen={onOpen}
        onDelete={onDelete}
      />,
    );
    expect(screen.getAllByText("5 min ago")).toHaveLength(2);
    const items = screen.getAllByTestId("history-item");
    expect(items.map((i) => [i.dataset.jobId, i.dataset.status])).toEqual([
      ["b", "processing"],
      ["a", "complete"],
    ]);
    await userEvent.click(screen.getByRole("button", { name: /Open job: second/ }));
    expect(onOpen).toHaveBeenCalledWith("b");
    await userEvent.click(screen.getAllByTestId("delete-job")[1]!);
    expect(onDelete).toHaveBeenCalledWith(jobs[1]);
  });
});
