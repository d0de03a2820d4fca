/** The history page (newest first) kept current from events the page already has, without re-reading it. */
import type { JobListQuery } from "../../../api/jobs";
import type { Job, JobList, JobStatus } from "../../../api/types";
import { mergeJob } from "../../job/lib/jobState";

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

export type StatusFilter = "all" | "active" | "complete" | "failed";

/** What the history shows: a page (0-based) of the jobs matching a search, a status group, starred only. */
export interface HistoryFilter {
  search: string;
  status: StatusFilter;
  starred: boolean;
  page: number;
}

export const ALL_JOBS: HistoryFilter = { search: "", status: "all", starred: false, page: 0 };

const STATUS_GROUPS: Record<StatusFilter, JobStatus[] | undefined> = {
  all: undefined,
  active: ["queued", "processing"],
  complete: ["complete"],
  failed: ["error", "cancelled"],
};

/** The search's words, lower case (the server matches each word in the prompt, any case). */
const words = (search: string) => search.toLowerCase().split(/\s+/).filter(Boolean);

export function queryOfFilter(filter: HistoryFilter, pageSize: number): JobListQuery {
  const query: JobListQuery = { limit: pageSize, offset: filter.page * pageSize };
  const status = STATUS_GROUPS[filter.status];
  if (status) query.status = status;
  if (words(filter.search).length) query.search = filter.search.trim();
  if (filter.starred) query.starred = true;
  return query;
}

/** Whether a job belongs in the history under this filter (so an event may insert it or take it out). */
export function matchesFilter(job: Job, filter: HistoryFilter): boolean {
  const status = STATUS_GROUPS[filter.status];
  if (status && !status.includes(job.status)) return false;
  if (filter.starred && !job.starred) return false;
  const prompt = job.config.prompt.toLowerCase();
  return words(filter.search).every((word) => prompt.includes(word));
}

export function isHistoryFilter(x: unknown): x is HistoryFilter {
  return typeof x === "object" && x !== null && "search" in x && "status" in x && "starred" in x && "page" in x;
}
