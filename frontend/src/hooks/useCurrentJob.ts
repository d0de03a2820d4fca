/** The job on screen, kept in `?job=<id>` and localStorage so a reload resumes it. */
import { useCallback, useEffect, useState } from "react";

export const STORAGE_KEY = "qie.currentJob";
const PARAM = "job";

function readInitial(): string | null {
  const fromUrl = new URLSearchParams(window.location.search).get(PARAM);
  if (fromUrl) return fromUrl;
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeUrl(jobId: string | null) {
  const url = new URL(window.location.href);
  if (jobId) url.searchParams.set(PARAM, jobId);
  else url.searchParams.delete(PARAM);
  if (url.href !== window.location.href) window.history.replaceState(null, "", url);
}

/** After signing out: the next one to sign in here has no business with the last one's job. */
export function forgetCurrentJob(): void {
  writeUrl(null);
  try {
    window.localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Private mode: nothing was stored.
  }
}

export function useCurrentJob() {
  const [jobId, setJobIdState] = useState<string | null>(readInitial);

  useEffect(() => {
    writeUrl(jobId);
    try {
      if (jobId) window.localStorage.setItem(STORAGE_KEY, jobId);
      else window.localStorage.removeItem(STORAGE_KEY);
    } catch {
      // Private mode: the URL still carries it.
    }
  }, [jobId]);

  const setJobId = useCallback((id: string | null) => setJobIdState(id), []);
  return [jobId, setJobId] as const;
}
