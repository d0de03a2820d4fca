import { describe, expect, it } from "vitest";
import type { WsMessage } from "../api/types";
import { makeJob, makeProgress } from "../test/fixtures";
import { formatEta, initialJobView, isStaleProgress, jobViewReducer, progressLabel, type JobAction, type JobView } from "./jobState";

const watching = jobViewReducer(initialJobView, { type: "watch", jobId: "job-1" });
const msg = (message: WsMessage): JobAction => ({ type: "message", message });
const run = (...actions: JobAction[]): JobView => actions.reduce(jobViewReducer, watching);

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, "0")}.000Z`;
const progressMsg = (step: number, second: number): JobAction =>
  msg({ type: "progress", job_id: "job-1", status: "processing", progress: makeProgress({ step, updated_at: at(second) }) });

describe("jobViewReducer", () => {
  it("starts connecting on watch and resets on a different job", () => {
    expect(watching).toMatchObject({ jobId: "job-1", status: null, connection: "connecting" });
    const other = jobViewReducer(run(progressMsg(3, 3)), { type: "watch", jobId: "job-2" });
    expect(other).toMatchObject({ jobId: "job-2", status: null, progress: null });
  });

  it("applies a snapshot of a queued job with its position", () => {
    const v = run(msg({ type: "snapshot", job_id: "job-1", status: "queued", progress: null, error: null, queue_position: 3 }));
    expect(v).toMatchObject({ status: "queued", queuePosition: 3 });
  });

  it("moves queued -> processing -> complete", () => {
    const v1 = run(
      msg({ type: "status", job_id: "job-1", status: "queued", queue_position: 2 }),
      msg({ type: "status", job_id: "job-1", status: "queued", queue_position: 1 }),
    );
    expect(v1.queuePosition).toBe(1);
    const v2 = jobViewReducer(v1, progressMsg(4, 4));
    expect(v2).toMatchObject({ status: "processing", queuePosition: null });
    expect(v2.progress?.step).toBe(4);
    const v3 = jobViewReducer(v2, msg({ type: "complete", job_id: "job-1", status: "complete", outputs: ["/o.png"] }));
    expect(v3).toMatchObject({ status: "complete", outputs: ["/o.png"] });
  });

  it("ignores progress older than what it shows", () => {
    const v = run(progressMsg(5, 5), progressMsg(3, 3));
    expect(v.progress?.step).toBe(5);
    // Same timestamp: the step decides.
    const same = run(progressMsg(5, 5), progressMsg(4, 5));
    expect(same.progress?.step).toBe(5);
    const newer = run(progressMsg(5, 5), progressMsg(6, 6));
    expect(newer.progress?.step).toBe(6);
  });

  it("never leaves a terminal state on late messages", () => {
    const done = run(progressMsg(9, 9), msg({ type: "complete", job_id: "job-1", status: "complete", outputs: ["/o.png"] }));
    const late = [
      progressMsg(10, 20),
      msg({ type: "status", job_id: "job-1", status: "processing", queue_position: null }),
      msg({ type: "snapshot", job_id: "job-1", status: "queued", progress: null, error: null, queue_position: 1 }),
      msg({ type: "error", job_id: "job-1", status: "error", error: "boom" }),
      msg({ type: "cancelled", job_id: "job-1", status: "cancelled" }),
      { type: "job", job: makeJob({ status: "processing" }) } as JobAction,
    ];
    const after = late.reduce(jobViewReducer, done);
    expect(after.status).toBe("complete");
    expect(after.outputs).toEqual(["/o.png"]);
    expect(after.error).toBeNull();
  });

  it("records errors and cancellations", () => {
    expect(run(msg({ type: "error", job_id: "job-1", status: "error", error: "CUDA out of memory" }))).toMatchObject({
      status: "error",
      error: "CUDA out of memory",
    });
    expect(run(msg({ type: "cancelled", job_id: "job-1", status: "cancelled" })).status).toBe("cancelled");
  });

  it("drops messages for another job", () => {
    const v = run(msg({ type: "cancelled", job_id: "job-2", status: "cancelled" }));
    expect(v).toBe(watching);
  });

  it("a retried job back in the queue loses its old progress", () => {
    const v = run(progressMsg(5, 5), msg({ type: "status", job_id: "job-1", status: "queued", queue_position: 1 }));
    expect(v).toMatchObject({ status: "queued", progress: null, queuePosition: 1 });
  });

  it("takes the full record from a GET, keeping fresher progress", () => {
    const v = run(
      progressMsg(7, 7),
      { type: "job", job: makeJob({ status: "processing", queue_position: null, progress: makeProgress({ step: 6, updated_at: at(6) }) }) },
    );
    expect(v.job?.config.seed).toBe(42);
    expect(v.progress?.step).toBe(7);
    const done = jobViewReducer(v, { type: "job", job: makeJob({ status: "complete", outputs: ["/api/jobs/job-1/files/output_1.png"] }) });
    expect(done).toMatchObject({ status: "complete", outputs: ["/api/jobs/job-1/files/output_1.png"] });
  });

  it("takes the finished record after a terminal WS message", () => {
    const done = run(msg({ type: "complete", job_id: "job-1", status: "complete", outputs: ["/o.png"] }));
    const record = makeJob({ status: "complete", outputs: ["/o.png"], finished_at: "2026-01-01T00:01:00Z" });
    const full = jobViewReducer(done, { type: "job", job: record });
    expect(full.job).toBe(record);
    expect(full.status).toBe("complete");
  });

  it("marks a missing job", () => {
    expect(jobViewReducer(watching, { type: "not_found" })).toMatchObject({ notFound: true, connection: "idle" });
  });
});

describe("isStaleProgress", () => {
  it("orders by time, then stage, then step", () => {
    const a = makeProgress({ stage: "denoising", step: 10, updated_at: at(5) });
    expect(isStaleProgress(null, a)).toBe(false);
    expect(isStaleProgress(a, makeProgress({ stage: "decoding", step: null, updated_at: at(5) }))).toBe(false);
    expect(isStaleProgress(a, makeProgress({ stage: "preparing", step: null, updated_at: at(5) }))).toBe(true);
    expect(isStaleProgress(a, makeProgress({ stage: "preparing", step: null, updated_at: at(6) }))).toBe(false);
  });
});

describe("labels", () => {
  it("shows the step while denoising and the message otherwise", () => {
    expect(progressLabel(makeProgress({ step: 3, total_steps: 50 }))).toBe("Step 3 of 50");
    expect(progressLabel(makeProgress({ stage: "decoding", step: null, total_steps: null, message: "Decoding" }))).toBe("Decoding");
  });
  it("formats time left", () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(42.4)).toBe("42s left");
    expect(formatEta(125)).toBe("2m 05s left");
  });
});
