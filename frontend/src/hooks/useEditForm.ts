/** The edit settings as typed by the user (strings, so half-typed numbers can be shown as invalid). */
import { useCallback, useMemo, useState } from "react";
import type { EditRequest, Limits } from "../api/types";
import { defaultFormValues, formProblem, isOutputFormat, randomSeed, type FormValues } from "../lib/validation";
import type { InputImage } from "./useImageInputs";

/** The form's values for a job's settings (Reuse). */
export function valuesOf(config: EditRequest): FormValues {
  return {
    prompt: config.prompt,
    negativePrompt: config.negative_prompt,
    cfg: String(config.true_cfg_scale),
    steps: String(config.num_inference_steps),
    seed: config.seed === null ? "" : String(config.seed),
    outputFormat: config.output_format,
    keepInputSize: config.keep_input_size,
    numImages: String(config.num_images),
  };
}

export function useEditForm(limits: Limits | null, images: readonly Pick<InputImage, "file">[]) {
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
          )
        : "Waiting for the server…",
    [limits, values, images],
  );

  const toRequest = useCallback((): EditRequest | null => {
    if (!values || !limits || problem || !isOutputFormat(values.outputFormat, limits)) return null;
    return {
      prompt: values.prompt.trim(),
      negative_prompt: values.negativePrompt,
      true_cfg_scale: Number(values.cfg),
      num_inference_steps: Number(values.steps),
      seed: values.seed.trim() === "" ? null : Number(values.seed),
      output_format: values.outputFormat,
      keep_input_size: values.keepInputSize,
      num_images: Number(values.numImages),
      lightning: false,
    };
  }, [values, limits, problem]);

  const reuse = useCallback((config: EditRequest) => setTyped(valuesOf(config)), []);

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
  num_images: 1,
  lightning: false,
};
