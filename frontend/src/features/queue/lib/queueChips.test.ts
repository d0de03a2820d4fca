import { describe, expect, it } from "vitest";
import { makeJob, makeProgress } from "../../../test/fixtures";
import { chipPhase, chipsToShow } from "./queueChips";

const at = (stage: "preparing" | "denoising" | "decoding" | "saving") => makeProgress({ stage });

describe("chipPhase", () => {
  it("of the three jobs one worker holds at once, only the one its model runs is running", () => {
    const saving = makeJob({ job_id: "a", status: "processing", progress: at("saving") });
    const running = makeJob({ job_id: "b", status: "processing", progress: at("denoising") });
    const claimedAhead = makeJob({ job_id: "c", status: "processing", progress: at("preparing") });
    expect([saving, running, claimedAhead].map(chipPhase)).toEqual(["finishing", "running", "starting"]);
    expect(chipPhase(makeJob({ status: "processing", progress: at("decoding") }))).toBe("running");
    expect(chipPhase(makeJob({ status: "processing", progress: null }))).toBe("starting");
    expect(chipPhase(makeJob({ status: "queued", queue_position: 3 }))).toBe("queued");
  });
});

describe("chipsToShow", () => {
  const jobs = [
    makeJob({ job_id: "q2", status: "queued", queue_position: 2 }),
    makeJob({ job_id: "next", status: "processing", progress: at("preparing") }),
    makeJob({ job_id: "q1", status: "queued", queue_position: 1 }),
    makeJob({ job_id: "run", status: "processing", progress: at("denoising") }),
    makeJob({ job_id: "q3", status: "queued", queue_position: 3 }),
  ];

  it("puts them in the order things happen, and counts the rest", () => {
    const { shown, rest } = chipsToShow(jobs, 3, null);
    expect(shown.map((j) => j.job_id)).toEqual(["run", "next", "q1"]);
    expect(rest.map((j) => j.job_id)).toEqual(["q2", "q3"]);
  });

  it("always shows the job on screen", () => {
    const { shown, rest } = chipsToShow(jobs, 3, "q3");
    expect(shown.map((j) => j.job_id)).toEqual(["run", "next", "q3"]);
    expect(rest.map((j) => j.job_id)).toEqual(["q1", "q2"]);
  });
});
