import { describe, expect, it } from "vitest";
import { makeJob } from "../../../test/fixtures";
import { mergeList, removeJob, upsertJob } from "./jobList";

const minute = (m: number) => `2026-01-01T00:${String(m).padStart(2, "0")}:00Z`;
const job = (id: string, m: number, status: "queued" | "processing" | "complete" = "complete") =>
  makeJob({ job_id: id, created_at: minute(m), status });
const page = (...jobs: ReturnType<typeof job>[]) => ({ jobs, total: jobs.length });

describe("upsertJob", () => {
  it("replaces the entry of a known job in place", () => {
    const list = page(job("b", 2, "processing"), job("a", 1));
    const next = upsertJob(list, job("b", 2, "complete"), 48);
    expect(next.jobs.map((j) => [j.job_id, j.status])).toEqual([
      ["b", "complete"],
      ["a", "complete"],
    ]);
    expect(next.total).toBe(2);
  });

  it("inserts a new job in date order and counts it", () => {
    const list = page(job("c", 3), job("a", 1));
    const next = upsertJob(list, job("b", 2, "queued"), 48);
    expect(next.jobs.map((j) => j.job_id)).toEqual(["c", "b", "a"]);
    expect(next.total).toBe(3);
  });

  it("keeps a full page full: a new job pushes the oldest off; an older one is not on this page", () => {
    const list = { jobs: [job("c", 3), job("b", 2)], total: 10 };
    const newer = upsertJob(list, job("d", 4), 2);
    expect(newer.jobs.map((j) => j.job_id)).toEqual(["d", "c"]);
    expect(newer.total).toBe(11);
    expect(upsertJob(list, job("old", 0), 2)).toBe(list);
  });

  it("does not let a late record undo a finished entry", () => {
    const list = page(job("a", 1, "complete"));
    expect(upsertJob(list, job("a", 1, "processing"), 48)).toBe(list);
  });
});

describe("removeJob", () => {
  it("drops the entry and the count", () => {
    expect(removeJob(page(job("b", 2), job("a", 1)), "b")).toEqual(page(job("a", 1)));
    const list = page(job("a", 1));
    expect(removeJob(list, "zzz")).toBe(list);
  });
});

describe("mergeList", () => {
  it("takes a fresh page, except entries already known to have finished", () => {
    const known = page(job("a", 1, "complete"));
    const fetched = { jobs: [job("b", 2, "queued"), job("a", 1, "processing")], total: 2 };
    const merged = mergeList(known, fetched);
    expect(merged.jobs.map((j) => [j.job_id, j.status])).toEqual([
      ["b", "queued"],
      ["a", "complete"],
    ]);
    expect(merged.total).toBe(2);
    expect(mergeList(undefined, fetched)).toBe(fetched);
  });
});
