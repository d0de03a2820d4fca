/** The history page (newest first) kept current from events the page already has, without re-reading it. */
import type { Job, JobList } from "../api/types";
import { mergeJob } from "./jobState";

const newestFirst = (a: Job, b: Job) => Date.parse(b.created_at) - Date.parse(a.created_at);

/** Replace the job's entry, or insert it in date order (a job submitted from this page, say). */
export function upsertJob(list: JobList, job: Job, pageSize: number): JobList {
  const index = list.jobs.findIndex((j) => j.job_id === job.job_id);
  if (index >= 0) {
    const merged = mergeJob(list.jobs[index], job);
    if (merged === list.jobs[index]) return list;
    const jobs = [...list.jobs];
    jobs[index] = merged;
    return { ...list, jobs };
  }
  // Older than a full page: it belongs to a later page (opened from a link, say), not this one.
  const oldest = list.jobs.at(-1);
  if (list.jobs.length >= pageSize && oldest && newestFirst(oldest, job) < 0) return list;
  const jobs = [...list.jobs, job].sort(newestFirst).slice(0, pageSize);
  return { jobs, total: list.total + 1 };
}

export function removeJob(list: JobList, jobId: string): JobList {
  const jobs = list.jobs.filter((j) => j.job_id !== jobId);
  return jobs.length === list.jobs.length ? list : { jobs, total: Math.max(0, list.total - 1) };
}

/** A freshly read page, except entries we already know finished (a read can race their last message). */
export function mergeList(previous: JobList | undefined, fetched: JobList): JobList {
  if (!previous) return fetched;
  const known = new Map(previous.jobs.map((j) => [j.job_id, j]));
  return { ...fetched, jobs: fetched.jobs.map((j) => mergeJob(known.get(j.job_id), j)) };
}
