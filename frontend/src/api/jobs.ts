import { api, reportUnauthorised, unwrap } from "./client";
import { decodeMaskPng, type DecodedMask } from "../features/edit/lib/maskPng";
import type { paths } from "./schema";
import type { DeleteResponse, EditRequest, Job, JobList, JobStatus, SubmitResponse } from "./types";

type EditBody = NonNullable<paths["/api/edit"]["post"]["requestBody"]>["content"]["multipart/form-data"];

/**
 * POST /api/edit: images in order as image1..imageN (as many as the model takes, `max_images`), settings as
 * the `config` JSON string, and `mask` (where image 1 may change) when a region is painted. `minImages`: the model's `min_images` (0 when it makes an image from text alone).
 */
export function submitEdit(images: readonly File[], config: EditRequest, minImages = 1, mask: Blob | null = null): Promise<SubmitResponse> {
  if (images.length < minImages)
    return Promise.reject(new Error(minImages === 1 ? "Add at least one image." : `Add at least ${minImages} images.`));
  const parts: Record<string, File> = Object.fromEntries(images.map((file, i) => [`image${i + 1}`, file]));
  // The region painted on image 1 (issue 20): a PNG at image 1's size, white = edit here.
  const body: EditBody = { ...parts, ...(mask ? { mask: new File([mask], "mask.png", { type: "image/png" }) } : {}), config: JSON.stringify(config) };
  return unwrap(
    api.POST("/api/edit", {
      body,
      // Multipart, not JSON; appending the File keeps its name, which the server stores.
      bodySerializer(body) {
        const form = new FormData();
        for (const [name, value] of Object.entries(body)) {
          if (value instanceof Blob || typeof value === "string") form.append(name, value);
        }
        return form;
      },
    }),
  );
}

/** GET /api/jobs/{job_id} */
export const getJob = (jobId: string, signal?: AbortSignal): Promise<Job> =>
  unwrap(api.GET("/api/jobs/{job_id}", { params: { path: { job_id: jobId } }, signal }));

export interface JobListQuery {
  limit?: number;
  offset?: number;
  /** Only these states (any of them). */
  status?: JobStatus[];
  /** Words in the prompt. */
  search?: string;
  starred?: boolean;
}

/** GET /api/jobs?limit=&offset=&status=&search=&starred= (newest first) */
export const listJobs = (query: JobListQuery = {}, signal?: AbortSignal): Promise<JobList> =>
  unwrap(api.GET("/api/jobs", { params: { query }, signal }));

/** PUT/DELETE /api/jobs/{job_id}/star: kept whatever the retention (or not). */
export const setStarred = (jobId: string, starred: boolean): Promise<Job> => {
  const params = { path: { job_id: jobId } };
  return unwrap(starred ? api.PUT("/api/jobs/{job_id}/star", { params }) : api.DELETE("/api/jobs/{job_id}/star", { params }));
};

/** POST /api/jobs/{job_id}/cancel (409 when already finished) */
export const cancelJob = (jobId: string): Promise<Job> =>
  unwrap(api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: jobId } } }));

/** POST /api/jobs/{job_id}/undo-cancel: a job cancelled moments ago, queued again ahead of the rest with its seed
 * (409 when it was not cancelled, or too long ago). */
export const undoCancel = (jobId: string): Promise<Job> =>
  unwrap(api.POST("/api/jobs/{job_id}/undo-cancel", { params: { path: { job_id: jobId } } }));

/** POST /api/jobs/cancel-queued: every queued job of this caller cancelled; running ones go on. */
export const cancelQueued = (): Promise<{ message: string; job_ids: string[] }> => unwrap(api.POST("/api/jobs/cancel-queued"));

/** DELETE /api/jobs/{job_id}. `keepalive`: the request outlives the page (a delete sent as it is left). */
export const deleteJob = (jobId: string, { keepalive = false }: { keepalive?: boolean } = {}): Promise<DeleteResponse> =>
  unwrap(api.DELETE("/api/jobs/{job_id}", { params: { path: { job_id: jobId } }, keepalive }));

/** GET /api/jobs/{job_id}/download[?index=N]: a plain link, so the browser saves the attachment. `index` is 1-based. */
export const downloadUrl = (jobId: string, index = 1) =>
  `/api/jobs/${encodeURIComponent(jobId)}/download${index > 1 ? `?index=${index}` : ""}`;

/** GET /api/jobs/{job_id}/download.zip: every result in one file. */
export const downloadAllUrl = (jobId: string) => `/api/jobs/${encodeURIComponent(jobId)}/download.zip`;

/** GET one of a job's file URLs (as the server gave them) as a File, e.g. to edit a result again. */
export async function fetchFile(url: string, name: string): Promise<File> {
  const response = await fetch(new URL(url, globalThis.location?.href));
  if (response.status === 401) reportUnauthorised();
  if (!response.ok) throw new Error(`Could not fetch ${name} (${response.status})`);
  const blob = await response.blob();
  return new File([blob], name, { type: blob.type || "image/png" });
}

/** A job's region mask (its `mask` URL, issue 20), read back as pixels. */
export async function fetchMask(url: string): Promise<DecodedMask> {
  const response = await fetch(new URL(url, globalThis.location?.href));
  if (response.status === 401) reportUnauthorised();
  if (!response.ok) throw new Error(`Could not fetch the job's region (${response.status})`);
  return decodeMaskPng(new Uint8Array(await response.arrayBuffer()));
}
