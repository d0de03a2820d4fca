/** The edit settings as typed by the user (strings, so half-typed numbers can be shown as invalid). */
import { useCallback, useMemo, useState } from "react";
import type { EditRequest, Limits, LoraView } from "../../../api/types";
import {
  defaultFormValues,
  formProblem,
  isCreating,
  isOutputFormat,
  ASPECT_RATIOS,
  randomSeed,
  type FormValues,
} from "../lib/validation";
import { sizeRequest, sizeValuesOf } from "../lib/outputSize";
import type { InputImage } from "./useImageInputs";

const RATIOS = ASPECT_RATIOS.map(({ ratio }) => ratio);
/** The Qwen models' drawing size, for a job's settings read before the server's limits are known. */
const NATIVE_1MP = { native_pixels: 1024 * 1024, size_multiple: 16, max_output_side: 4096 };

/**
 * The form's values for a job's settings (Reuse). A Lightning job's stored steps and guidance are
 * Lightning's own (8 or 4, guidance 1): they become Fast's steps, and the ordinary steps and guidance stay
 * as they were in `base` (for when Fast is turned off again). `imageCount`: how many images the job had; a job
 * with none was made from its instruction alone (Create), one with some edited them.
 */
export function valuesOf(
  config: EditRequest,
  base: FormValues | null = null,
  imageCount: number | null = null,
  limits: Pick<Limits, "native_pixels" | "size_multiple" | "max_output_side"> | null = null,
): FormValues {
  const steps = String(config.num_inference_steps);
  const cfg = String(config.true_cfg_scale);
  const fast = config.lightning;
  return {
    prompt: config.prompt,
    negativePrompt: config.negative_prompt,
    cfg: fast && base ? base.cfg : cfg,
    steps: fast && base ? base.steps : steps,
    seed: config.seed === null ? "" : String(config.seed),
    outputFormat: config.output_format,
    ...sizeValuesOf(config, RATIOS, limits ?? NATIVE_1MP),
    numImages: String(config.num_images),
    lightning: fast,
    fastSteps: fast ? steps : (base?.fastSteps ?? "8"),
    loras: (config.loras ?? []).map(({ name, weight }) => ({ name, weight: String(weight) })),
    mode: imageCount === null ? (base?.mode ?? "edit") : imageCount === 0 ? "create" : "edit",
  };
}

/** `loras`: the server's LoRA files once listed (a picked one that is gone or does not fit is refused). */
export function useEditForm(limits: Limits | null, images: readonly Pick<InputImage, "file">[], loras: readonly LoraView[] | null = null) {
  // Null until the user changes something: until then the defaults that came with the limits apply.
  const [typed, setTyped] = useState<FormValues | null>(null);
  const defaults = useMemo(() => (limits ? defaultFormValues(limits) : null), [limits]);
  const values = typed ?? defaults;

  const setField = useCallback(
    <K extends keyof FormValues>(key: K, value: FormValues[K]) => {
      setTyped((prev) => {
        const base = prev ?? defaults;
        return base ? { ...base, [key]: value } : prev;
      });
    },
    [defaults],
  );

  const problem = useMemo(
    () =>
      limits && values
        ? formProblem(
            values,
            images.map((img) => img.file.size),
            limits,
            loras,
          )
        : "Waiting for the server…",
    [limits, values, images, loras],
  );

  const toRequest = useCallback((): EditRequest | null => {
    if (!values || !limits || problem || !isOutputFormat(values.outputFormat, limits)) return null;
    const fast = values.lightning;
    const creating = isCreating(values, limits);
    return {
      prompt: values.prompt.trim(),
      negative_prompt: values.negativePrompt,
      // What runs: the server rewrites a Lightning job's to these anyway (and stores them so).
      true_cfg_scale: fast ? 1 : Number(values.cfg),
      num_inference_steps: Number(fast ? values.fastSteps : values.steps),
      seed: values.seed.trim() === "" ? null : Number(values.seed),
      output_format: values.outputFormat,
      // Create has no input to take a size from: the shape chosen (at the model's native area), or its own.
      ...sizeRequest(values, creating),
      num_images: Number(values.numImages),
      lightning: fast,
      loras: values.loras.map(({ name, weight }) => ({ name, weight: Number(weight) })),
    };
  }, [values, limits, problem]);

  const reuse = useCallback(
    (config: EditRequest, imageCount: number | null = null) =>
      setTyped((prev) => valuesOf(config, prev ?? defaults, imageCount, limits)),
    [defaults, limits],
  );

  /** Values saved earlier (a draft from before a reload); fields it lacks keep their defaults. */
  const restore = useCallback(
    (saved: Partial<FormValues>) => setTyped((prev) => ({ ...(prev ?? defaults ?? valuesOf(EMPTY)), ...saved })),
    [defaults],
  );

  const rollSeed = useCallback(() => {
    if (limits) setField("seed", String(randomSeed(limits)));
  }, [limits, setField]);

  return { values, typed, setField, problem, toRequest, reuse, restore, rollSeed };
}

const EMPTY: EditRequest = {
  prompt: "",
  negative_prompt: "",
  true_cfg_scale: 4,
  num_inference_steps: 50,
  seed: null,
  output_format: "png",
  keep_input_size: false,
  output_size: null,
  num_images: 1,
  lightning: false,
  loras: [],
};
