import type { Limits, LoraView } from "../../../api/types";
import { defaultLoraWeight, formatBytes, loraUnfit, type LoraPick } from "../lib/validation";
import { Button, inputClass } from "../../../components/ui";

interface Props {
  limits: Limits;
  /** The server's LoRA files (null until listed). */
  available: readonly LoraView[] | null;
  error: string | null;
  picked: readonly LoraPick[];
  onChange: (next: LoraPick[]) => void;
  /** The picker is looked at: a good moment to list the files again. */
  onOpen: () => void;
}

// The form's input look, at the width of a weight ("-1.25") rather than the whole row.
const numberClass = `${inputClass.replace("w-full", "").replace("px-3", "")} w-20 px-2`;

function weightInvalid(text: string, limits: Limits): boolean {
  const n = Number(text);
  return text.trim() === "" || !Number.isFinite(n) || n < limits.min_lora_weight || n > limits.max_lora_weight;
}

/** Why a picked LoRA will be refused (gone from the server, or does not fit the model), or null. */
function pickedWarning(name: string, available: readonly LoraView[] | null): string | null {
  if (!available) return null;
  const listed = available.find((lora) => lora.name === name);
  if (!listed) return "Not on the server any more: remove it.";
  const unfit = loraUnfit(listed);
  return unfit ? `This file ${unfit}: remove it.` : null;
}

/** The operator's LoRA files (`<data>/loras/`): up to `max_loras`, each with its weight, removable. */
export function LoraPicker({ limits, available, error, picked, onChange, onOpen }: Props) {
  const full = picked.length >= limits.max_loras;
  const names = new Set(picked.map((p) => p.name));
  const setWeight = (index: number, weight: string) => onChange(picked.map((p, i) => (i === index ? { ...p, weight } : p)));
  const add = (name: string) => {
    if (!name || names.has(name) || full) return;
    onChange([...picked, { name, weight: String(defaultLoraWeight(limits)) }]);
  };
  const step = 0.05;

  return (
    <fieldset data-testid="lora-picker" className="space-y-2">
      <legend className="text-sm font-medium">
        LoRAs{" "}
        <span className="font-normal text-zinc-600 dark:text-zinc-400">
          (styles from the server, up to {limits.max_loras}; weight {limits.min_lora_weight} to {limits.max_lora_weight})
        </span>
      </legend>
      {picked.length > 0 && (
        <ul className="space-y-2">
          {picked.map((pick, index) => {
            const warning = pickedWarning(pick.name, available);
            const number = Number(pick.weight);
            const sliderValue = Number.isFinite(number) && pick.weight.trim() !== "" ? number : defaultLoraWeight(limits);
            return (
              <li key={pick.name} data-testid="lora-item" data-name={pick.name} className="space-y-1 rounded-lg border border-zinc-200 px-3 py-2 dark:border-zinc-800">
                <div className="flex items-center gap-2">
                  <span className="min-w-0 flex-1 truncate text-sm font-medium" title={pick.name}>
                    {pick.name}
                  </span>
                  <Button
                    variant="ghost"
                    className="px-2 py-1"
                    data-testid="lora-remove"
                    aria-label={`Remove LoRA ${pick.name}`}
                    title="Remove"
                    onClick={() => onChange(picked.filter((_, i) => i !== index))}
                  >
                    ✕
                  </Button>
                </div>
                <div className="flex items-center gap-3">
                  <input
                    type="range"
                    aria-label={`Weight of ${pick.name} (slider)`}
                    min={limits.min_lora_weight}
                    max={limits.max_lora_weight}
                    step={step}
                    value={Math.min(limits.max_lora_weight, Math.max(limits.min_lora_weight, sliderValue))}
                    className="min-w-0 flex-1 accent-indigo-600"
                    onChange={(e) => setWeight(index, e.target.value)}
                  />
                  <input
                    type="number"
                    data-testid="lora-weight"
                    aria-label={`Weight of ${pick.name}`}
                    inputMode="decimal"
                    min={limits.min_lora_weight}
                    max={limits.max_lora_weight}
                    step={step}
                    value={pick.weight}
                    aria-invalid={weightInvalid(pick.weight, limits)}
                    className={numberClass}
                    onChange={(e) => setWeight(index, e.target.value)}
                  />
                </div>
                {warning && (
                  <p data-testid="lora-warning" className="mt-1 text-xs text-amber-800 dark:text-amber-300">
                    {warning}
                  </p>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {available && available.length === 0 && picked.length === 0 ? (
        <p className="text-xs text-zinc-600 dark:text-zinc-400">None on this server (the operator puts .safetensors files in the data folder&apos;s loras/).</p>
      ) : (
        <select
          data-testid="lora-add"
          aria-label="Add a LoRA"
          value=""
          disabled={full || !available}
          className={inputClass}
          onFocus={onOpen}
          onPointerDown={onOpen}
          onChange={(e) => add(e.target.value)}
        >
          <option value="">{full ? `At most ${limits.max_loras} LoRAs per edit` : available ? "Add a LoRA…" : "Listing LoRAs…"}</option>
          {(available ?? []).map((lora) => {
            const unfit = loraUnfit(lora);
            const taken = names.has(lora.name);
            return (
              <option key={lora.name} value={lora.name} disabled={taken || unfit !== null} title={lora.reason ?? undefined}>
                {lora.name} · {formatBytes(lora.size_bytes)}
                {unfit ? ` · ${unfit}` : taken ? " · picked" : ""}
              </option>
            );
          })}
        </select>
      )}
      {error && !available && (
        <p role="alert" className="text-xs text-red-700 dark:text-red-400">
          Could not list the LoRAs: {error}
        </p>
      )}
    </fieldset>
  );
}
