import { api, unwrap } from "./client";
import type { Health, Limits, LoraView } from "./types";

/** GET /api/health */
export const getHealth = (signal?: AbortSignal): Promise<Health> => unwrap(api.GET("/api/health", { signal }));

/** GET /api/limits */
export const getLimits = (signal?: AbortSignal): Promise<Limits> => unwrap(api.GET("/api/limits", { signal }));

/** GET /api/loras: the operator's LoRA files a job may name, and whether each fits the loaded model. */
export const listLoras = (signal?: AbortSignal): Promise<LoraView[]> =>
  unwrap(api.GET("/api/loras", { signal })).then((answer) => answer.loras);
