import { api, unwrap } from "./client";
import type { Health, Limits } from "./types";

/** GET /api/health */
export const getHealth = (signal?: AbortSignal): Promise<Health> => unwrap(api.GET("/api/health", { signal }));

/** GET /api/limits */
export const getLimits = (signal?: AbortSignal): Promise<Limits> => unwrap(api.GET("/api/limits", { signal }));
