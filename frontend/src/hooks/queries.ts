/**
 * Every server read the page makes, as TanStack Query options (key, fetcher, refetch policy), plus the
 * cache writes that keep them current from events we already have instead of re-reading.
 */
import { QueryClient, queryOptions } from "@tanstack/react-query";
import { getHealth, getLimits } from "../api/system";
import { getJob, listJobs } from "../api/jobs";
import type { Job } from "../api/types";
import { mergeList, removeJob, upsertJob } from "../lib/jobList";
import { mergeJob } from "../lib/jobState";

export const HEALTH_MS = 5_000;
export const HEALTH_LOADING_MS = 2_000;
export const LIMITS_RETRY_MS = 3_000;
export const HISTORY_PAGE_SIZE = 48;
/** Only for jobs submitted elsewhere (another tab, the API): this page's own jobs arrive as events. */
export const HISTORY_IDLE_MS = 60_000;

export const healthQuery = queryOptions({
  queryKey: ["health"],
  queryFn: ({ signal }) => getHealth(signal),
  // Faster while the model loads, so "ready" shows up soon after it is.
  refetchInterval: (query) => (query.state.data?.model_state === "loading" ? HEALTH_LOADING_MS : HEALTH_MS),
  // Say "offline" at once; the next interval tries again anyway.
  retry: false,
});

export const limitsQuery = queryOptions({
  queryKey: ["limits"],
  queryFn: ({ signal }) => getLimits(signal),
  // Fixed while the server runs; the form waits for them, so keep trying until they arrive.
  staleTime: Infinity,
  retry: true,
  retryDelay: LIMITS_RETRY_MS,
});

export const jobListQuery = queryOptions({
  queryKey: ["jobs", "list"],
  queryFn: async ({ signal, client, queryKey }) =>
    mergeList(client.getQueryData(queryKey), await listJobs({ limit: HISTORY_PAGE_SIZE }, signal)),
  staleTime: HISTORY_IDLE_MS / 2,
  refetchInterval: HISTORY_IDLE_MS,
});

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
  client.setQueryData(jobListQuery.queryKey, (list) => list && upsertJob(list, merged, HISTORY_PAGE_SIZE));
}

/** A deleted job: gone from the history and from the cache. */
export function forgetJob(client: QueryClient, jobId: string): void {
  client.setQueryData(jobListQuery.queryKey, (list) => list && removeJob(list, jobId));
  client.removeQueries({ queryKey: jobQuery(jobId).queryKey, exact: true });
}

export function makeQueryClient(): QueryClient {
  return new QueryClient();
}
