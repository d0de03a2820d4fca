import { request } from "./client";
import type { Health, Limits } from "./types";

/** GET /api/health */
export const getHealth = (signal?: AbortSignal) => request<Health>("/api/health", { signal });

/** GET /api/limits */
export const getLimits = (signal?: AbortSignal) => request<Limits>("/api/limits", { signal });
