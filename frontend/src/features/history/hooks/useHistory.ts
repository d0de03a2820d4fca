/**
 * Past jobs, newest first, a page at a time under a filter (search by prompt, status, starred). Read once
 * per page and filter, then kept current by writes from events the page already has (socket messages,
 * submit, cancel and star answers); a slow idle refetch catches jobs from elsewhere.
 *
 * Delete can be undone: the entry leaves the list at once, and the DELETE goes out UNDO_MS later unless
 * the user takes it back (or at once when the page is left). If the server refuses, the entry returns.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, errorMessage } from "../../../api/client";
import { deleteJob, setStarred } from "../../../api/jobs";
import type { Job } from "../../../api/types";
import { ALL_JOBS, type HistoryFilter } from "../lib/jobList";
import { forgetJob, HISTORY_PAGE_SIZE, hideJob, JOB_LISTS, jobListQuery, writeJob } from "../../../api/queries";

export const UNDO_MS = 6_000;

export interface PendingDelete {
  job: Job;
  /** It was the job on screen: undo opens it again. */
  wasOpen: boolean;
}

export function useHistory() {
  const client = useQueryClient();
  const [filter, setFilterState] = useState<HistoryFilter>(ALL_JOBS);
  const list = useQuery(jobListQuery(filter));
  const [pending, setPending] = useState<PendingDelete[]>([]);
  const timers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const remove = useMutation({
    mutationFn: (job: Job) => deleteJob(job.job_id),
    onSuccess: (_answer, job) => forgetJob(client, job.job_id),
    onError: (error, job) => {
      // 404: someone else deleted it first; it is gone either way.
      if (error instanceof ApiError && error.status === 404) forgetJob(client, job.job_id);
      else writeJob(client, job);
    },
  });
  const { mutate: deleteNow } = remove;

  const star = useMutation({
    mutationFn: ({ jobId, starred }: { jobId: string; starred: boolean }) => setStarred(jobId, starred),
    onSuccess: (job) => writeJob(client, job),
  });

  const settle = useCallback(
    (jobId: string) => {
      clearTimeout(timers.current.get(jobId));
      timers.current.delete(jobId);
      setPending((all) => all.filter((p) => p.job.job_id !== jobId));
    },
    [],
  );

  /** Hide the job now; delete it on the server once the undo has run out. */
  const scheduleDelete = useCallback(
    (job: Job, wasOpen = false) => {
      // A read in flight would bring the entry back.
      void client.cancelQueries({ queryKey: JOB_LISTS });
      hideJob(client, job.job_id);
      setPending((all) => [...all.filter((p) => p.job.job_id !== job.job_id), { job, wasOpen }]);
      clearTimeout(timers.current.get(job.job_id));
      timers.current.set(
        job.job_id,
        setTimeout(() => {
          settle(job.job_id);
          deleteNow(job);
        }, UNDO_MS),
      );
    },
    [client, settle, deleteNow],
  );

  const undo = useCallback(
    (jobId: string) => {
      const entry = pending.find((p) => p.job.job_id === jobId);
      settle(jobId);
      if (entry) writeJob(client, entry.job);
      return entry ?? null;
    },
    [pending, settle, client],
  );

  // Leaving the page does what the undo would have done after its time: delete (keepalive outlives the page).
  const pendingRef = useRef(pending);
  useEffect(() => {
    pendingRef.current = pending;
  }, [pending]);
  useEffect(() => {
    const flush = () => {
      for (const { job } of pendingRef.current) {
        void deleteJob(job.job_id, { keepalive: true }).catch(() => {});
      }
    };
    const all = timers.current;
    window.addEventListener("pagehide", flush);
    return () => {
      window.removeEventListener("pagehide", flush);
      all.forEach(clearTimeout);
    };
  }, []);

  const setFilter = useCallback((change: Partial<HistoryFilter>) => {
    // A new search or filter starts again from the first page.
    setFilterState((current) => ({ ...current, page: 0, ...change }));
  }, []);

  const total = list.data?.total ?? 0;
  const error = list.error ?? remove.error ?? star.error;
  return {
    jobs: list.data?.jobs ?? [],
    total,
    pages: Math.max(1, Math.ceil(total / HISTORY_PAGE_SIZE)),
    filter,
    setFilter,
    fetching: list.isFetching,
    error: error ? errorMessage(error) : null,
    loaded: list.isFetched || list.data !== undefined,
    pending,
    scheduleDelete,
    undo,
    setStarred: (jobId: string, starred: boolean) => star.mutate({ jobId, starred }),
  };
}
