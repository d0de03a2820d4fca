/** The edit settings as typed by the user (strings, so half-typed numbers can be shown as invalid). */
import { useCallback, useEffect, useMemo, useState } from "react";
import type { EditRequest, Limits, OutputFormat } from "../api/types";
import { defaultFormValues, formProblem, randomSeed, type FormValues } from "../lib/validation";

export function useEditForm(limits: Limits | null, imageCount: number) {
  const [values, setValues] = useState<FormValues | null>(limits ? defaultFormValues(limits) : null);

  // Defaults arrive with the limits; keep what the user typed if they arrive again.
  useEffect(() => {
    if (limits) setValues((prev) => prev ?? defaultFormValues(limits));
  }, [limits]);

  const setField = useCallback(<K extends keyof FormValues>(key: K, value: FormValues[K]) => {
    setValues((prev) => (prev ? { ...prev, [key]: value } : prev));
  }, []);

  const problem = useMemo(
    () => (limits && values ? formProblem(values, imageCount, limits) : "Waiting for the server…"),
    [limits, values, imageCount],
  );

  const toRequest = useCallback((): EditRequest | null => {
    if (!values || problem) return null;
    return {
      prompt: values.prompt.trim(),
      negative_prompt: values.negativePrompt,
      true_cfg_scale: Number(values.cfg),
      num_inference_steps: Number(values.steps),
      seed: values.seed.trim() === "" ? null : Number(values.seed),
      output_format: values.outputFormat as OutputFormat,
      keep_input_size: values.keepInputSize,
    };
  }, [values, problem]);

  const reuse = useCallback((config: EditRequest) => {
    setValues({
      prompt: config.prompt,
      negativePrompt: config.negative_prompt,
      cfg: String(config.true_cfg_scale),
      steps: String(config.num_inference_steps),
      seed: config.seed === null ? "" : String(config.seed),
      outputFormat: config.output_format,
      keepInputSize: config.keep_input_size,
    });
  }, []);

  const rollSeed = useCallback(() => {
    if (limits) setField("seed", String(randomSeed(limits)));
  }, [limits, setField]);

  return { values, setField, problem, toRequest, reuse, rollSeed };
}
