/** Checks the browser can make before uploading; every limit comes from GET /api/limits. */
import type { Limits, LoraView, OutputFormat } from "../../../api/types";
import { mediaTypeOf } from "./mediaType";
import type { SizeChoice } from "./outputSize";

/** What a browser canvas can decode, and so reduce (see reduceImage). */
export const CANVAS_TYPES: readonly string[] = ["image/jpeg", "image/png", "image/webp"];

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function formatPixels(pixels: number): string {
  return `${(pixels / 1_000_000).toFixed(1)} MP`;
}

function typeLabel(mime: string): string {
  return mime.replace("image/", "").toUpperCase();
}

/** Reason a file is refused for its type (judged as `mediaTypeOf` does), or null. */
export function checkType(file: Pick<File, "name" | "type">, limits: Limits): string | null {
  const type = mediaTypeOf(file);
  if (limits.accepted_types.includes(type)) return null;
  const accepted = limits.accepted_types.map(typeLabel).join(", ");
  return `${file.name}: unsupported type ${type || "(unknown)"}. Use ${accepted}.`;
}

/** Reason a file is refused by type or size, or null if it may be uploaded as it is. A file the browser can
 * reduce (`canReduce`) is reduced instead of refused for its size; this is for those it cannot (TIFF, HEIC). */
export function checkFile(file: Pick<File, "name" | "type" | "size">, limits: Limits): string | null {
  const wrongType = checkType(file, limits);
  if (wrongType) return wrongType;
  if (file.size > limits.max_image_bytes) {
    const type = mediaTypeOf(file);
    const why = CANVAS_TYPES.includes(type)
      ? ""
      : ` This browser cannot reduce ${typeLabel(type)} files: export it as JPEG, PNG or WebP and it will be reduced before upload.`;
    return `${file.name} is ${formatBytes(file.size)}; the limit is ${formatBytes(limits.max_image_bytes)}.${why}`;
  }
  return null;
}

/** Reason decoded dimensions are refused, or null. The server refuses the same, after the upload. */
export function checkDimensions(name: string, width: number, height: number, limits: Limits): string | null {
  if (width <= 0 || height <= 0) return `${name} could not be read as an image.`;
  const pixels = width * height;
  if (pixels > limits.max_image_pixels) {
    return `${name} is ${width}×${height} (${formatPixels(pixels)}); the limit is ${formatPixels(limits.max_image_pixels)}.`;
  }
  if (Math.min(width, height) < limits.min_image_side) {
    return `${name} is ${width}×${height}; each side must be at least ${limits.min_image_side} pixels.`;
  }
  const ratio = Math.max(width, height) / Math.min(width, height);
  if (ratio > limits.max_aspect_ratio) {
    return `${name} is ${width}×${height}, an aspect ratio of ${ratio.toFixed(1)}:1; the limit is ${limits.max_aspect_ratio}:1.`;
  }
  return null;
}

/** Room in one request for the config field and the multipart headers, next to the image bytes. */
export const MULTIPART_SLACK_BYTES = 16 * 1024;

/** Reason images of these sizes cannot go in one request (`max_upload_bytes`), or null. */
export function checkUploadBytes(sizes: readonly number[], limits: Limits): string | null {
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total + MULTIPART_SLACK_BYTES <= limits.max_upload_bytes) return null;
  return `The images add up to ${formatBytes(total)}; one upload may carry ${formatBytes(limits.max_upload_bytes - MULTIPART_SLACK_BYTES)}. Use smaller or fewer images.`;
}

/** How many of `incoming` files fit next to `current` ones, and the reason for the rest. */
export function checkCount(current: number, incoming: number, limits: Limits): { accept: number; reason: string | null } {
  const room = Math.max(0, limits.max_images - current);
  if (incoming <= room) return { accept: incoming, reason: null };
  return {
    accept: room,
    reason: `At most ${limits.max_images} image${limits.max_images === 1 ? "" : "s"} per edit; ${incoming - room} not added.`,
  };
}

/** A LoRA picked in the form: its name as GET /api/loras lists it, and its weight as typed. */
export interface LoraPick {
  name: string;
  weight: string;
}

export interface FormValues {
  prompt: string;
  negativePrompt: string;
  cfg: string;
  steps: string;
  seed: string;
  outputFormat: string;
  /** The result's size: as the model draws it, as the (last) input, or `aspectRatio` at `outputLong`. */
  outputSize: SizeChoice;
  /** With `outputSize` "ratio": a long side in pixels beyond the model's own, or "" for the model's area. */
  outputLong: string;
  /** How many variations to make, 1 to `max_num_images`. */
  numImages: string;
  /** "Fast": the Lightning LoRA, at `fastSteps` steps without guidance (steps and cfg are then unused). */
  lightning: boolean;
  /** Fast's steps, one of `lightning_steps`. */
  fastSteps: string;
  /** Up to `max_loras` of the server's LoRA files, in the order picked. */
  loras: LoraPick[];
  /** "create": an image from the instruction alone (images optional), on a server with `text_to_image`. */
  mode: FormMode;
  /** The shape with `outputSize` "ratio": one of ASPECT_RATIOS (drawn at the model's native area), or "" (1:1). */
  aspectRatio: string;
}

export type FormMode = "edit" | "create";

/** Create's shapes (width:height): the server draws each at the model's native area (`aspect_ratio`). */
export const ASPECT_RATIOS: readonly { ratio: string; label: string }[] = [
  { ratio: "1:1", label: "1:1 square" },
  { ratio: "4:3", label: "4:3 landscape" },
  { ratio: "3:4", label: "3:4 portrait" },
  { ratio: "3:2", label: "3:2 landscape" },
  { ratio: "2:3", label: "2:3 portrait" },
  { ratio: "16:9", label: "16:9 wide" },
  { ratio: "9:16", label: "9:16 tall" },
];

export const isAspectRatio = (value: string) => ASPECT_RATIOS.some(({ ratio }) => ratio === value);

/** Whether the form makes an image from the instruction alone: Create chosen, on a server that can. */
export function isCreating(values: Pick<FormValues, "mode">, limits: Pick<Limits, "text_to_image">): boolean {
  return limits.text_to_image && values.mode === "create";
}

/** The `<imageN>` tag (1-based) by which an instruction addresses the image in slot `index` (0-based). */
export const imageTag = (index: number) => `<image${index + 1}>`;

/** Lightning's usual step count: 8 when the server offers it, else its longest. */
export function defaultFastSteps(limits: Limits): number {
  const offered = limits.lightning_steps;
  return offered.includes(8) ? 8 : (offered.at(-1) ?? 8);
}

/** The steps a Lightning job runs at, as the server rewrites them: `steps` when offered, else the usual. */
export function fastStepsOf(steps: number, limits: Limits): number {
  return limits.lightning_steps.includes(steps) ? steps : defaultFastSteps(limits);
}

/** The weight a newly picked LoRA starts at: 1, within the server's range. */
export function defaultLoraWeight(limits: Limits): number {
  return Math.min(limits.max_lora_weight, Math.max(limits.min_lora_weight, 1));
}

/** Why a LoRA of the server's list cannot be picked (it does not fit the loaded model), or null. */
export function loraUnfit(lora: Pick<LoraView, "matches" | "reason">): string | null {
  if (lora.matches !== false) return null;
  return lora.reason ? `does not fit the loaded model: ${lora.reason}` : "does not fit the loaded model";
}

export function defaultFormValues(limits: Limits): FormValues {
  return {
    prompt: "",
    negativePrompt: "",
    cfg: String(limits.default_cfg),
    steps: String(limits.default_steps),
    seed: "",
    outputFormat: limits.output_formats[0] ?? "png",
    outputSize: "model",
    outputLong: "",
    numImages: "1",
    lightning: false,
    fastSteps: String(defaultFastSteps(limits)),
    loras: [],
    mode: "edit",
    aspectRatio: "",
  };
}

function parseNumber(text: string): number | null {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** The first reason the form cannot be submitted, or null when it can. `imageSizes`: bytes per image;
 * `available`: the server's LoRA files, when known (a picked one that is gone or does not fit is refused). */
export function formProblem(
  values: FormValues,
  imageSizes: readonly number[],
  limits: Limits,
  available: readonly LoraView[] | null = null,
): string | null {
  const imageCount = imageSizes.length;
  const creating = isCreating(values, limits);
  const fewest = creating ? limits.min_images : Math.max(1, limits.min_images);
  if (imageCount < fewest) {
    if (fewest > 1) return `Add at least ${fewest} images.`;
    return limits.text_to_image ? "Add at least one image, or choose Create to make one from the instruction alone." : "Add at least one image.";
  }
  if (imageCount > limits.max_images) return `Use at most ${limits.max_images} images.`;
  const tooBig = checkUploadBytes(imageSizes, limits);
  if (tooBig) return tooBig;
  const prompt = values.prompt.trim();
  if (!prompt) return creating ? "Describe the image to make in the prompt box." : "Describe the edit in the prompt box.";
  if (prompt.length > limits.max_prompt_chars) return `The prompt is longer than ${limits.max_prompt_chars} characters.`;
  if (values.negativePrompt.length > limits.max_negative_prompt_chars)
    return `The negative prompt is longer than ${limits.max_negative_prompt_chars} characters.`;
  if (values.lightning) {
    // Fast runs its own steps without guidance: the ordinary steps and guidance are not sent.
    if (!limits.lightning_steps.includes(Number(values.fastSteps)))
      return `Fast runs ${limits.lightning_steps.join(" or ")} steps.`;
  } else {
    const cfg = parseNumber(values.cfg);
    if (cfg === null || cfg < limits.min_cfg || cfg > limits.max_cfg)
      return `Guidance must be between ${limits.min_cfg} and ${limits.max_cfg}.`;
    const steps = parseNumber(values.steps);
    if (steps === null || !Number.isInteger(steps) || steps < limits.min_steps || steps > limits.max_steps)
      return `Steps must be a whole number from ${limits.min_steps} to ${limits.max_steps}.`;
  }
  if (values.seed.trim() !== "") {
    const seed = parseNumber(values.seed);
    if (seed === null || !Number.isInteger(seed) || seed < 0 || seed > limits.max_seed)
      return `Seed must be a whole number from 0 to ${limits.max_seed}, or empty for random.`;
  }
  const count = parseNumber(values.numImages);
  if (count === null || !Number.isInteger(count) || count < 1 || count > limits.max_num_images)
    return `Variations must be a whole number from 1 to ${limits.max_num_images}.`;
  const loraProblem = lorasProblem(values.loras, limits, available);
  if (loraProblem) return loraProblem;
  if (values.outputSize === "ratio") {
    if (values.aspectRatio !== "" && !isAspectRatio(values.aspectRatio))
      return `Shape must be one of ${ASPECT_RATIOS.map(({ ratio }) => ratio).join(", ")}.`;
    const long = parseNumber(values.outputLong);
    if (values.outputLong !== "" && (long === null || !Number.isInteger(long) || long < limits.min_image_side || long > limits.max_output_side))
      return `The long side must be a whole number of pixels up to ${limits.max_output_side}.`;
  }
  if (!isOutputFormat(values.outputFormat, limits))
    return `Output format must be one of ${limits.output_formats.join(", ")}.`;
  return null;
}

function lorasProblem(picked: readonly LoraPick[], limits: Limits, available: readonly LoraView[] | null): string | null {
  if (picked.length > limits.max_loras) return `Use at most ${limits.max_loras} LoRAs.`;
  const names = new Set<string>();
  for (const { name, weight } of picked) {
    if (names.has(name)) return `The LoRA ${name} is picked twice.`;
    names.add(name);
    const w = parseNumber(weight);
    if (w === null || w < limits.min_lora_weight || w > limits.max_lora_weight)
      return `The weight of ${name} must be between ${limits.min_lora_weight} and ${limits.max_lora_weight}.`;
    if (available) {
      const listed = available.find((lora) => lora.name === name);
      if (!listed) return `The LoRA ${name} is not on the server (any more); remove it.`;
      const unfit = loraUnfit(listed);
      if (unfit) return `The LoRA ${name} ${unfit}; remove it.`;
    }
  }
  return null;
}

export function isOutputFormat(value: string, limits: Limits): value is OutputFormat {
  return limits.output_formats.some((format) => format === value);
}

export function randomSeed(limits: Limits, random: () => number = Math.random): number {
  return Math.floor(random() * (limits.max_seed + 1));
}
