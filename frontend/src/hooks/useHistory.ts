/** Past jobs, newest first; refreshed on demand and on a timer (faster while any job is active). */
import { useCallback, useEffect, useRef, useState } from "react";
import { errorMessage } from "../api/client";
import { deleteJob, listJobs } from "../api/jobs";
import { isTerminal, type Job } from "../api/types";

const PAGE_SIZE = 48;
const IDLE_MS = 15_000;
const ACTIVE_MS = 3_000;

export function useHistory() {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const generation = useRef(0);

  const refresh = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const page = await listJobs({ limit: PAGE_SIZE });
      if (mine !== generation.current) return; // a newer refresh answered first
      setJobs(page.jobs);
      setTotal(page.total);
      setError(null);
    } catch (e) {
      if (mine === generation.current) setError(errorMessage(e));
    } finally {
      setLoaded(true);
    }
  }, []);

  const active = jobs.some((job) => !isTerminal(job.status));
  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), active ? ACTIVE_MS : IDLE_MS);
    return () => clearInterval(timer);
  }, [refresh, active]);

  const remove = useCallback(
    async (jobId: string) => {
      setJobs((prev) => prev.filter((job) => job.job_id !== jobId));
      try {
        await deleteJob(jobId);
      } catch (e) {
        setError(errorMessage(e));
      }
      await refresh();
    },
    [refresh],
  );

  return { jobs, total, error, loaded, refresh, remove };
}
