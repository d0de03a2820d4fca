/** Health (public, polled; faster while the model loads) and the form limits (fetched until they arrive). */
import { useQuery } from "@tanstack/react-query";
import { errorMessage } from "../api/client";
import { healthQuery, limitsQuery } from "./queries";

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
