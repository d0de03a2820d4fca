/** The job on screen, kept in `?job=<id>` and localStorage so a reload resumes it. Opening another job is a step
 * in the browser's history, so Back and Forward move between the jobs opened. */
import { useCallback, useEffect, useState } from "react";

export const STORAGE_KEY = "qie.currentJob";
const PARAM = "job";

const jobInUrl = () => new URLSearchParams(window.location.search).get(PARAM);

function readInitial(): string | null {
  const fromUrl = jobInUrl();
  if (fromUrl) return fromUrl;
  try {
    return window.localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function writeUrl(jobId: string | null, step: "push" | "replace" = "replace") {
  const url = new URL(window.location.href);
  if (jobId) url.searchParams.set(PARAM, jobId);
  else url.searchParams.delete(PARAM);
  if (url.href === window.location.href) return;
  if (step === "push") window.history.pushState(null, "", url);
  else window.history.replaceState(null, "", url);
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

  // Back and Forward: the job of the entry the browser went to (none: the page with no job open).
  useEffect(() => {
    const onPop = () => setJobIdState(jobInUrl());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  // A new history entry per job opened (the effect above then finds the URL already written).
  const setJobId = useCallback((id: string | null) => {
    writeUrl(id, "push");
    setJobIdState(id);
  }, []);
  return [jobId, setJobId] as const;
}
