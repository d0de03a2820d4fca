import { useId } from "react";
import type { Limits } from "../../../api/types";
import { DiceIcon } from "../../../components/icons";
import { Button, inputClass } from "../../../components/ui";
import type { FormValues } from "../lib/validation";

interface Props {
  limits: Limits;
  values: FormValues;
  onChange: <K extends keyof FormValues>(key: K, value: FormValues[K]) => void;
  onRollSeed: () => void;
}

/** Out of range (or not a whole number where one is needed): the box says so before Edit does. */
export function rangeInvalid(text: string, min: number, max: number, integer: boolean): boolean {
  const n = Number(text);
  return text.trim() === "" || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n));
}

/** The form's folded part: negative prompt, guidance, steps, seed and output format. */
export function AdvancedSettings({ limits, values, onChange, onRollSeed }: Props) {
  const ids = { negative: useId(), cfg: useId(), steps: useId(), seed: useId(), format: useId() };
  const fast = values.lightning;
  const seedInvalid = values.seed.trim() !== "" && rangeInvalid(values.seed, 0, limits.max_seed, true);

  return (
    <details className="group rounded-xl border border-zinc-200 dark:border-zinc-800">
      <summary className="cursor-pointer select-none rounded-xl px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500">
        Advanced settings
      </summary>
      <div className="grid gap-4 px-3 pb-3 pt-1 sm:grid-cols-2">
        <div className="space-y-1 sm:col-span-2">
          <label htmlFor={ids.negative} className="text-sm">
            Negative prompt
          </label>
          <textarea
            id={ids.negative}
            rows={2}
            value={values.negativePrompt}
            maxLength={limits.max_negative_prompt_chars}
            placeholder="What to avoid (blurry, watermark…)"
            className={inputClass}
            onChange={(e) => onChange("negativePrompt", e.target.value)}
          />
        </div>

        <div className="space-y-1">
          <label htmlFor={ids.cfg} className="text-sm" title="True classifier-free guidance: how strongly to follow the instruction">
            Guidance{" "}
            <span className="text-zinc-600 dark:text-zinc-400">{fast ? "off with Fast" : `${limits.min_cfg}–${limits.max_cfg}`}</span>
          </label>
          <input
            id={ids.cfg}
            data-testid="cfg"
            type="number"
            inputMode="decimal"
            step={0.5}
            min={limits.min_cfg}
            max={limits.max_cfg}
            // With Fast, what runs: guidance 1 (off); the typed value comes back when Fast is turned off.
            value={fast ? "1" : values.cfg}
            disabled={fast}
            aria-invalid={!fast && rangeInvalid(values.cfg, limits.min_cfg, limits.max_cfg, false)}
            className={`${inputClass} disabled:opacity-60`}
            onChange={(e) => onChange("cfg", e.target.value)}
          />
        </div>

        <div className="space-y-1">
          <label htmlFor={ids.steps} className="text-sm">
            Steps{" "}
            <span className="text-zinc-600 dark:text-zinc-400">{fast ? "with Fast" : `${limits.min_steps}–${limits.max_steps}`}</span>
          </label>
          {fast ? (
            <select
              id={ids.steps}
              data-testid="fast-steps"
              value={values.fastSteps}
              className={inputClass}
              onChange={(e) => onChange("fastSteps", e.target.value)}
            >
              {limits.lightning_steps.map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          ) : (
            <input
              id={ids.steps}
              data-testid="steps"
              type="number"
              inputMode="numeric"
              step={1}
              min={limits.min_steps}
              max={limits.max_steps}
              value={values.steps}
              aria-invalid={rangeInvalid(values.steps, limits.min_steps, limits.max_steps, true)}
              className={inputClass}
              onChange={(e) => onChange("steps", e.target.value)}
            />
          )}
        </div>

        <div className="space-y-1 sm:col-span-2">
          <label htmlFor={ids.seed} className="text-sm">
            Seed <span className="text-zinc-600 dark:text-zinc-400">(empty = random)</span>
          </label>
          <div className="flex gap-2">
            <input
              id={ids.seed}
              data-testid="seed"
              type="number"
              inputMode="numeric"
              min={0}
              max={limits.max_seed}
              placeholder="random"
              value={values.seed}
              aria-invalid={seedInvalid}
              className={inputClass}
              onChange={(e) => onChange("seed", e.target.value)}
            />
            <Button aria-label="Random seed" title="Pick a random seed" onClick={onRollSeed}>
              <DiceIcon />
            </Button>
            <Button aria-label="Clear seed (random each time)" title="Random each time" disabled={values.seed === ""} onClick={() => onChange("seed", "")}>
              ✕
            </Button>
          </div>
        </div>

        <div className="space-y-1">
          <label htmlFor={ids.format} className="text-sm">
            Output format
          </label>
          <select
            id={ids.format}
            value={values.outputFormat}
            className={inputClass}
            onChange={(e) => onChange("outputFormat", e.target.value)}
          >
            {limits.output_formats.map((f) => (
              <option key={f} value={f}>
                {f.toUpperCase()}
              </option>
            ))}
          </select>
        </div>

      </div>
    </details>
  );
}
