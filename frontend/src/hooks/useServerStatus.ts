/** Health (public, polled; faster while the model loads) and the form limits (fetched until they arrive). */
import { useQuery } from "@tanstack/react-query";
import { errorMessage } from "../api/client";
import { healthQuery, limitsQuery, lorasQuery } from "../api/queries";

export function useHealth() {
  const health = useQuery(healthQuery);
  return {
    health: health.data ?? null,
    // Only while the last try failed: the header keeps the last good health next to it.
    healthError: health.isError ? errorMessage(health.error) : null,
    /** When the server last answered (ms since the epoch; 0 before it has). */
    healthAt: health.dataUpdatedAt,
  };
}

/** Needs a session once keys exist: only the editor (shown signed in, or on an open server) reads them. */
export function useLimits() {
  return useQuery(limitsQuery).data ?? null;
}

/** The LoRA files a job may name (null until listed), with a way to read them again and why a read failed. */
export function useLoras() {
  const loras = useQuery(lorasQuery);
  const { refetch, isStale } = loras;
  return {
    loras: loras.data ?? null,
    error: loras.isError ? errorMessage(loras.error) : null,
    /** Read again if stale: when the picker is opened, so a file added since shows up. */
    refresh: () => {
      if (isStale) void refetch();
    },
  };
}
