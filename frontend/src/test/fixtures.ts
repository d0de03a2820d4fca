import type { Job, JobMessage, Limits, Progress, ProgressMessage } from "../api/types";

export const APACHE = { id: "Apache-2.0", name: "Apache License 2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" };

export function makeLimits(overrides: Partial<Limits> = {}): Limits {
  return {
    model_name: "Qwen-Image-Edit-2511",
    family: "2511",
    license: APACHE,
    min_images: 1,
    max_images: 3,
    text_to_image: false,
    alpha: false,
    fast: "the family's Lightning LoRA (lightx2v), 4 or 8 steps, guidance off",
    no_previews_because: null,
    max_num_images: 4,
    max_prompt_chars: 2000,
    max_negative_prompt_chars: 2000,
    min_steps: 2,
    max_steps: 150,
    default_steps: 50,
    min_cfg: 1,
    max_cfg: 20,
    default_cfg: 4,
    max_seed: 4294967295,
    output_formats: ["png", "jpeg", "webp"],
    accepted_types: ["image/jpeg", "image/png", "image/webp"],
    max_upload_bytes: 1_000_000,
    max_image_bytes: 1000,
    min_image_side: 16,
    max_aspect_ratio: 8,
    max_image_pixels: 1_000_000,
    stored_input_pixels: 2_097_152,
    native_pixels: 1_048_576,
    size_multiple: 16,
    max_output_side: 4096,
    lightning_steps: [4, 8],
    max_loras: 3,
    min_lora_weight: -2,
    max_lora_weight: 2,
    ...overrides,
  };
}

export function makeProgress(overrides: Partial<Progress> = {}): Progress {
  return {
    stage: "denoising",
    message: "Denoising",
    progress: 10,
    step: 1,
    total_steps: 10,
    eta_seconds: 9,
    resumed_from_step: null,
    updated_at: "2026-01-01T00:00:01.000Z",
    ...overrides,
  };
}

export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    job_id: "job-1",
    status: "queued",
    config: {
      prompt: "make it blue",
      negative_prompt: " ",
      true_cfg_scale: 4,
      num_inference_steps: 10,
      seed: 42,
      output_format: "png",
      keep_input_size: false,
      num_images: 1,
      lightning: false,
    },
    progress: null,
    error: null,
    created_at: "2026-01-01T00:00:00Z",
    started_at: null,
    finished_at: null,
    queue_position: 1,
    attempts: 0,
    inputs: ["/api/jobs/job-1/files/input_1.png"],
    outputs: [],
    starred: false,
    kept_until: null,
    thumbnail: null,
    requeue_reason: null,
    webhook: null,
    deleting: false,
    flattened: false,
    mask: null,
    region: null,
    ...overrides,
  };
}

export function fileOf(name: string, type: string, size: number): File {
  return new File([new Uint8Array(size)], name, { type });
}

type JobMessageType = JobMessage["type"];

/** A whole-job WebSocket message, as the server sends it. */
export function jobMessage(type: JobMessageType, job: Job, event: JobMessage["event"] = defaultEvent[type]): JobMessage {
  return { ...job, type, event };
}

const defaultEvent: Record<JobMessageType, JobMessage["event"]> = {
  snapshot: null,
  status: "started",
  complete: "complete",
  error: "error",
  cancelled: "cancelled",
};

export function progressMessage(jobId: string, progress: Progress): ProgressMessage {
  return { type: "progress", job_id: jobId, status: "processing", progress, preview: null };
}
