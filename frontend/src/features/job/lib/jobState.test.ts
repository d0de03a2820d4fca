import { describe, expect, it } from "vitest";
import { jobMessage, makeJob, makeProgress, progressMessage } from "../../../test/fixtures";
import { applyMessage, applyProgress, formatEta, isStaleProgress, jobOf, mergeJob, progressLabel, requeueNote } from "./jobState";

const at = (second: number) => `2026-01-01T00:00:${String(second).padStart(2, "0")}.000Z`;
const progressAt = (step: number, second: number) => progressMessage("job-1", makeProgress({ step, updated_at: at(second) }));
const processing = makeJob({ status: "processing", queue_position: null, started_at: at(1), progress: makeProgress({ step: 1, updated_at: at(1) }) });

describe("jobOf", () => {
  it("drops the message's own fields and keeps every job field", () => {
    const job = makeJob({ status: "complete", outputs: ["/o.png"] });
    const fromMessage = jobOf(jobMessage("complete", job));
    expect(fromMessage).toEqual(job);
    expect(fromMessage).not.toHaveProperty("type");
    expect(fromMessage).not.toHaveProperty("event");
  });
});

describe("mergeJob", () => {
  it("takes the first record and replaces it with later ones", () => {
    const queued = makeJob({ queue_position: 3 });
    expect(mergeJob(undefined, queued)).toBe(queued);
    const next = makeJob({ queue_position: 1 });
    expect(mergeJob(queued, next)).toBe(next);
    expect(mergeJob(queued, processing)).toBe(processing);
  });

  it("a record of another job replaces it (a different job is on screen)", () => {
    const other = makeJob({ job_id: "job-2" });
    expect(mergeJob(processing, other)).toBe(other);
  });

  it("never leaves a terminal state for a late record", () => {
    const done = makeJob({ status: "complete", outputs: ["/o.png"], queue_position: null });
    for (const late of [processing, makeJob({ status: "queued" }), makeJob({ status: "error", error: "boom" })]) {
      expect(mergeJob(done, late)).toBe(done);
    }
    // The same terminal state again (the final message after a snapshot) is taken: it may be richer.
    const richer = { ...done, finished_at: at(9) };
    expect(mergeJob(done, richer)).toBe(richer);
  });

  it("keeps fresher progress than a record carries", () => {
    const ahead = { ...processing, progress: makeProgress({ step: 7, updated_at: at(7) }) };
    const behind = { ...processing, progress: makeProgress({ step: 6, updated_at: at(6) }), attempts: 1 };
    const merged = mergeJob(ahead, behind);
    expect(merged.progress?.step).toBe(7);
    expect(merged.attempts).toBe(1); // the rest comes from the record
    expect(mergeJob(ahead, { ...processing, progress: null }).progress?.step).toBe(7);
    const newer = { ...processing, progress: makeProgress({ step: 8, updated_at: at(8) }) };
    expect(mergeJob(ahead, newer).progress?.step).toBe(8);
  });

  it("a retried job back in the queue is taken as such", () => {
    const requeued = makeJob({ status: "queued", queue_position: 1, attempts: 1 });
    expect(mergeJob(processing, requeued)).toBe(requeued);
  });

  it("a cancelled job comes back only when its cancel was undone", () => {
    const cancelled = makeJob({ status: "cancelled", queue_position: null });
    const stale = makeJob({ status: "queued", queue_position: 3 });
    expect(mergeJob(cancelled, stale)).toBe(cancelled);
    const undone = makeJob({ status: "queued", queue_position: 1, requeue_reason: "cancel_undone" });
    expect(mergeJob(cancelled, undone)).toBe(undone);
  });
});

describe("applyProgress", () => {
  it("changes progress only, and marks the job running", () => {
    const queued = makeJob({ status: "queued", queue_position: 1 });
    const next = applyProgress(queued, progressAt(3, 3));
    expect(next).toEqual({ ...queued, status: "processing", queue_position: null, progress: progressAt(3, 3).progress });
  });

  it("ignores progress older than what it shows", () => {
    const five = applyProgress(processing, progressAt(5, 5));
    expect(applyProgress(five, progressAt(3, 3))).toBe(five);
    // Same timestamp: the step decides.
    expect(applyProgress(five, progressAt(4, 5))).toBe(five);
    expect(applyProgress(five, progressAt(6, 6))?.progress?.step).toBe(6);
  });

  it("ignores progress for a finished job, another job, or before any record", () => {
    const done = makeJob({ status: "cancelled" });
    expect(applyProgress(done, progressAt(9, 9))).toBe(done);
    const other = makeJob({ job_id: "job-2", status: "processing" });
    expect(applyProgress(other, progressAt(9, 9))).toBe(other);
    expect(applyProgress(undefined, progressAt(9, 9))).toBeUndefined();
  });
});

describe("applyMessage", () => {
  it("folds whole-job and progress messages alike", () => {
    const snapshot = applyMessage(undefined, jobMessage("snapshot", makeJob({ queue_position: 2 })));
    expect(snapshot).toMatchObject({ status: "queued", queue_position: 2 });
    const running = applyMessage(snapshot, progressAt(2, 2));
    expect(running).toMatchObject({ status: "processing", queue_position: null });
    const done = applyMessage(running, jobMessage("complete", makeJob({ status: "complete", outputs: ["/o.png"], queue_position: null })));
    expect(done).toMatchObject({ status: "complete", outputs: ["/o.png"] });
    expect(applyMessage(done, progressAt(9, 9))).toBe(done);
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
    expect(progressLabel(makeProgress({ stage: "decoding", step: null, total_steps: null, message: "Decoding" }))).toBe("Finishing…");
    expect(progressLabel(makeProgress({ stage: "loading_model", step: null, total_steps: null, message: "Loading the model" }))).toBe("Loading the model");
  });
  it("formats time left", () => {
    expect(formatEta(null)).toBeNull();
    expect(formatEta(42.4)).toBe("42s left");
    expect(formatEta(125)).toBe("2m 05s left");
  });
});

describe("requeueNote", () => {
  it("says where a requeued job goes on from when its worker had saved a step", () => {
    const running = { status: "processing" as const, requeue_reason: "shutdown" as const };
    expect(requeueNote(makeJob({ ...running, progress: makeProgress() }))).toBe("Requeued after a server restart");
    expect(requeueNote(makeJob({ ...running, progress: makeProgress({ resumed_from_step: 19 }) }))).toBe(
      "Requeued after a server restart; it continues from step 19",
    );
    expect(
      requeueNote(makeJob({ status: "processing", requeue_reason: "lease_expired", progress: makeProgress({ resumed_from_step: 5 }) })),
    ).toBe("Requeued: its worker stopped answering; it continues from step 5");
    expect(requeueNote(makeJob({ status: "complete", requeue_reason: "shutdown" }))).toBeNull();
  });
});
