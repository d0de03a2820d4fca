/** A job's variations: each result's own seed, and the settings that make that one result again. */
import type { EditRequest } from "../../../api/types";

/** The server's MAX_SEED (edit_request.py): variation seeds wrap past it, as the server's image_seeds() do. */
export const MAX_SEED = 2 ** 32 - 1;

/** The seed result `index` (0-based) was made with, or null when the job has none yet. */
export function variationSeed(seed: number | null, index: number): number | null {
  return seed === null ? null : (seed + index) % (MAX_SEED + 1);
}

/** The job's settings with result `index`'s own seed and one image: a run of them makes that result again. */
export function variationConfig(config: EditRequest, index: number): EditRequest {
  return { ...config, seed: variationSeed(config.seed, index), num_images: 1 };
}
