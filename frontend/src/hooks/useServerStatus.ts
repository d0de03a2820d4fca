/** Health (polled; faster while the model loads) and the form limits (fetched until they arrive). */
import { useQuery } from "@tanstack/react-query";
import { errorMessage } from "../api/client";
import { healthQuery, limitsQuery } from "./queries";

export function useServerStatus() {
  const health = useQuery(healthQuery);
  const limits = useQuery(limitsQuery);
  return {
    health: health.data ?? null,
    // Only while the last try failed: the header keeps the last good health next to it.
    healthError: health.isError ? errorMessage(health.error) : null,
    limits: limits.data ?? null,
  };
}
