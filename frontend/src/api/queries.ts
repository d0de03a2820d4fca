/**
 * Every server read the page makes, as TanStack Query options (key, fetcher, refetch policy), plus the
 * cache writes that keep them current from events we already have instead of re-reading.
 */
import { keepPreviousData, QueryClient, queryOptions } from "@tanstack/react-query";
import { getSession } from "../features/session/api/session";
import { getHealth, getLimits, listLoras } from "./system";
import { getJob, listJobs } from "./jobs";
import type { Job, JobList, Session } from "./types";
import { ALL_JOBS, isHistoryFilter, matchesFilter, mergeList, queryOfFilter, removeJob, upsertJob, type HistoryFilter } from "../features/history/lib/jobList";
import { mergeJob } from "../features/job/lib/jobState";

export const HEALTH_MS = 5_000;
export const HEALTH_LOADING_MS = 2_000;
/** While the server does not answer: ask this often, so the page is back within a second of it. */
export const OFFLINE_PROBE_MS = 500;
export const LIMITS_RETRY_MS = 3_000;
export const HISTORY_PAGE_SIZE = 24;
/** Only for jobs submitted elsewhere (another tab, the API): this page's own jobs arrive as events. */
export const HISTORY_IDLE_MS = 60_000;

export const healthQuery = queryOptions({
  queryKey: ["health"],
  queryFn: ({ signal }) => getHealth(signal),
  // Faster while the model loads, so "ready" shows up soon after it is; fastest while it does not answer, so
  // "offline" clears within a second of the server being back.
  refetchInterval: (query) =>
    query.state.status === "error" ? OFFLINE_PROBE_MS : query.state.data?.model_state === "loading" ? HEALTH_LOADING_MS : HEALTH_MS,
  // Say "offline" at once; the next interval tries again anyway.
  retry: false,
});

/** Whether the server needs a key and whom this browser is signed in as. Changes only by signing in or out
 * (written with setQueryData) or when a 401 says the session ended; never re-read on its own. */
export const sessionQuery = queryOptions({
  queryKey: ["session"],
  queryFn: ({ signal }) => getSession(signal),
  staleTime: Infinity,
  refetchOnWindowFocus: false,
  // The page waits for it (it decides between the sign-in and the editor): keep trying while offline.
  retry: true,
  retryDelay: LIMITS_RETRY_MS,
});

/** Not signed in, on a server that needs a key. */
export const signedOut: Session = { keys_required: true, signed_in: false, name: null, admin: false, expires_at: null };

export const limitsQuery = queryOptions({
  queryKey: ["limits"],
  queryFn: ({ signal }) => getLimits(signal),
  // Fixed while the server runs; the form waits for them, so keep trying until they arrive.
  staleTime: Infinity,
  retry: true,
  retryDelay: LIMITS_RETRY_MS,
});

export const LORAS_STALE_MS = 30_000;

/** The operator's LoRA files: they change only when someone adds one on the server (and `matches` once the
 * model has loaded), so read again when stale and the picker is looked at (window focus, the picker's focus). */
export const lorasQuery = queryOptions({
  queryKey: ["loras"],
  queryFn: ({ signal }) => listLoras(signal),
  staleTime: LORAS_STALE_MS,
  retry: 1,
});

/** Every history page, whatever its filter: the prefix of their keys. */
export const JOB_LISTS = ["jobs", "list"] as const;

/** One page of the history under one filter (search, status, starred). */
export const jobListQuery = (filter: HistoryFilter = ALL_JOBS) =>
  queryOptions({
    queryKey: [...JOB_LISTS, filter] as const,
    queryFn: async ({ signal, client, queryKey }) =>
      mergeList(client.getQueryData<JobList>(queryKey), await listJobs(queryOfFilter(filter, HISTORY_PAGE_SIZE), signal)),
    staleTime: HISTORY_IDLE_MS / 2,
    refetchInterval: HISTORY_IDLE_MS,
    // Paging and typing a search keep the last page on screen until the next arrives.
    placeholderData: keepPreviousData,
  });

/** Apply `update` to every cached history page, with the filter it was read under. */
function updateLists(client: QueryClient, update: (list: JobList, filter: HistoryFilter) => JobList): void {
  for (const [queryKey, list] of client.getQueriesData<JobList>({ queryKey: JOB_LISTS })) {
    const filter = queryKey[2];
    if (!list || !isHistoryFilter(filter)) continue;
    const next = update(list, filter);
    if (next !== list) client.setQueryData(queryKey, next);
  }
}

export const jobQuery = (jobId: string) =>
  queryOptions({
    queryKey: ["jobs", "detail", jobId],
    queryFn: async ({ signal, client, queryKey }) => mergeJob(client.getQueryData(queryKey), await getJob(jobId, signal)),
  });

/** A whole job record heard of (socket message, cancel answer, poll): update its view and its history entry. */
export function writeJob(client: QueryClient, job: Job): void {
  const { queryKey } = jobQuery(job.job_id);
  const merged = mergeJob(client.getQueryData(queryKey), job);
  client.setQueryData(queryKey, merged);
  updateLists(client, (list, filter) => {
    const listed = list.jobs.some((j) => j.job_id === merged.job_id);
    if (!matchesFilter(merged, filter)) return listed ? removeJob(list, merged.job_id) : list;
    // A new job belongs on the first page only; later pages shift when they are next read.
    if (!listed && filter.page > 0) return list;
    return upsertJob(list, merged, HISTORY_PAGE_SIZE);
  });
}

/** A deleted job: gone from the history and from the cache. */
export function forgetJob(client: QueryClient, jobId: string): void {
  updateLists(client, (list) => removeJob(list, jobId));
  client.removeQueries({ queryKey: jobQuery(jobId).queryKey, exact: true });
}

/** Take a job out of every history page (an undoable delete), without forgetting its own view. */
export function hideJob(client: QueryClient, jobId: string): void {
  updateLists(client, (list) => removeJob(list, jobId));
}

/** Reads anyone may make (no key needed): they stay across sign-in and sign-out. */
const PUBLIC_QUERIES: ReadonlySet<unknown> = new Set([healthQuery.queryKey[0], sessionQuery.queryKey[0]]);

/**
 * Forget everything read with a session (history, jobs, limits) and every mutation, when it ends or another
 * begins, so nothing of one key's jobs shows under the next. queryClient.clear(), except the public health
 * and session reads: the header and the sign-in gate stay mounted and keep observing those two. (Removing a
 * query also cancels its read in flight.)
 */
export function clearServerState(client: QueryClient): void {
  client.removeQueries({ predicate: (query) => !PUBLIC_QUERIES.has(query.queryKey[0]) });
  client.getMutationCache().clear();
}

export function makeQueryClient(): QueryClient {
  return new QueryClient();
}
