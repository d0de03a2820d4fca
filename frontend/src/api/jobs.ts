import { request } from "./client";
import type { EditRequest, Job, JobList, JobStatus, SubmitResponse } from "./types";

const jobPath = (jobId: string) => `/api/jobs/${encodeURIComponent(jobId)}`;

/** POST /api/edit: images in order as image1..image3, settings as the `config` JSON string. */
export function submitEdit(images: readonly File[], config: EditRequest): Promise<SubmitResponse> {
  const form = new FormData();
  images.forEach((file, i) => form.append(`image${i + 1}`, file, file.name));
  form.append("config", JSON.stringify(config));
  return request<SubmitResponse>("/api/edit", { method: "POST", body: form });
}

/** GET /api/jobs/{job_id} */
export const getJob = (jobId: string, signal?: AbortSignal) => request<Job>(jobPath(jobId), { signal });

/** GET /api/jobs?limit=&offset=&status= (newest first) */
export function listJobs(
  params: { limit?: number; offset?: number; status?: JobStatus } = {},
  signal?: AbortSignal,
): Promise<JobList> {
  const query = new URLSearchParams();
  if (params.limit !== undefined) query.set("limit", String(params.limit));
  if (params.offset !== undefined) query.set("offset", String(params.offset));
  if (params.status) query.set("status", params.status);
  const qs = query.toString();
  return request<JobList>(`/api/jobs${qs ? `?${qs}` : ""}`, { signal });
}

/** POST /api/jobs/{job_id}/cancel (409 when already finished) */
export const cancelJob = (jobId: string) => request<Job>(`${jobPath(jobId)}/cancel`, { method: "POST" });

/** DELETE /api/jobs/{job_id} */
export const deleteJob = (jobId: string) => request<void>(jobPath(jobId), { method: "DELETE" });

/** GET /api/jobs/{job_id}/download: used as a plain link so the browser saves the attachment. */
export const downloadUrl = (jobId: string) => `${jobPath(jobId)}/download`;

/** GET one of a job's file URLs as a File, e.g. to edit a result again. */
export async function fetchFile(url: string, name: string): Promise<File> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`Could not fetch ${name} (${response.status})`);
  const blob = await response.blob();
  return new File([blob], name, { type: blob.type || "image/png" });
}
