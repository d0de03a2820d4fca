import { useId, useLayoutEffect, useRef, type FormEvent, type RefObject } from "react";
import type { Limits, LoraView } from "../../../api/types";
import type { InputImage } from "../hooks/useImageInputs";
import type { Region } from "../hooks/useRegion";
import { settingsToForm, type EmbeddedSettings } from "../lib/embeddedSettings";
import { imageTag, isCreating, type FormMode, type FormValues } from "../lib/validation";
import { AdvancedSettings } from "./AdvancedSettings";
import { ImagePicker } from "./ImagePicker";
import { LoraPicker } from "./LoraPicker";
import { OutputSizePicker } from "./OutputSizePicker";
import { RegionTool } from "./RegionTool";
import { Button, inputClass } from "../../../components/ui";

export const EXAMPLE_PROMPTS = [
  "Make the sky stormy at sunset",
  "Turn this photo into a watercolor painting",
  "Remove the people in the background",
  "Change the text on the sign to \"OPEN\"",
  "Replace the background with a snowy forest",
];

/** Create mode's examples: an image from the instruction alone. */
export const CREATE_PROMPTS = [
  "A lighthouse on a cliff at dusk, oil painting",
  "A cozy reading nook with a sleeping cat, soft morning light",
  "A neon sign that says \"OPEN LATE\" on a brick wall",
  "A watercolor map of an imaginary island",
];

const MODES: { mode: FormMode; label: string }[] = [
  { mode: "edit", label: "Edit images" },
  { mode: "create", label: "Create" },
];

interface Props {
  limits: Limits;
  values: FormValues;
  onChange: <K extends keyof FormValues>(key: K, value: FormValues[K]) => void;
  onRollSeed: () => void;
  problem: string | null;
  submitting: boolean;
  submitError: string | null;
  onSubmit: () => void;
  images: readonly InputImage[];
  imageErrors: readonly string[];
  /** What was done to files on the way in (reduced before upload). */
  imageNotes?: readonly string[];
  onAddImages: (files: File[]) => void;
  onAddImageUrl: (url: string) => void;
  onRemoveImage: (id: string) => void;
  onMoveImage: (index: number, delta: number) => void;
  /** The server's LoRA files (null until listed), why listing them failed, and a way to list them again. */
  loras: readonly LoraView[] | null;
  lorasError: string | null;
  onLorasOpen: () => void;
  /** Where image 1 may change (issue 20); absent: no region tool. */
  region?: Region;
}

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);
/** Runs the form from anywhere on the page (see useShortcuts). */
export const SHORTCUT = isMac ? "⌘↵" : "Ctrl+Enter";

/** Keeps `--sticky-bar-height` (index.css: the page's scroll-padding-bottom) at the Edit bar's height, so that
 * keyboard focus and scrolled-to targets stop above the bar instead of under it, however tall it gets. */
function useStickyBarHeight(bar: RefObject<HTMLElement | null>) {
  useLayoutEffect(() => {
    const element = bar.current;
    if (!element) return;
    const root = document.documentElement;
    const update = () => root.style.setProperty("--sticky-bar-height", `${Math.ceil(element.getBoundingClientRect().height)}px`);
    update();
    const observer = typeof ResizeObserver === "function" ? new ResizeObserver(update) : null;
    observer?.observe(element);
    return () => {
      observer?.disconnect();
      root.style.removeProperty("--sticky-bar-height");
    };
  }, [bar]);
}

export function EditForm(props: Props) {
  const { limits, values, onChange, problem, submitting } = props;
  const ids = {
    prompt: useId(),
    promptCount: useId(),
    reason: useId(),
    count: useId(),
    fast: useId(),
    fastNote: useId(),
    mode: useId(),
    modeNote: useId(),
  };
  const fast = values.lightning;
  const creating = isCreating(values, limits);
  // What Fast runs on this model: a Lightning LoRA (the Edit models), or the base model at few steps (2.1).
  const lightning = /lightning/i.test(limits.fast);
  // Whether Fast would run fewer steps than the form asks for now (else it is not quicker, only guidance-free).
  const fewerSteps = Number(values.steps) > Math.max(...limits.lightning_steps);
  // A model that takes several images is told which is which by tags: <image1>, <image2>, ...
  const tags = limits.max_images > 1;
  const promptRef = useRef<HTMLTextAreaElement>(null);
  const barRef = useRef<HTMLDivElement>(null);
  // Where the caret goes once an inserted tag is in the box (the value changes a render later).
  const caretAfter = useRef<number | null>(null);
  useLayoutEffect(() => {
    const box = promptRef.current;
    const caret = caretAfter.current;
    if (!box || caret === null) return;
    caretAfter.current = null;
    box.focus();
    box.setSelectionRange(caret, caret);
  }, [values.prompt]);

  const insertTag = (index: number) => {
    const tag = imageTag(index);
    const text = values.prompt;
    const box = promptRef.current;
    const start = box?.selectionStart ?? text.length;
    const end = box?.selectionEnd ?? start;
    caretAfter.current = start + tag.length;
    onChange("prompt", text.slice(0, start) + tag + text.slice(end));
  };
  /** A dropped file's settings into the form ("Use these settings"); returns what could not be used. */
  const applySettings = (settings: EmbeddedSettings) => {
    const { values: recalled, notes } = settingsToForm(settings, limits);
    let key: keyof FormValues;
    for (key in recalled) {
      const value = recalled[key];
      if (value !== undefined) onChange(key, value);
    }
    return notes;
  };
  const examples = creating ? CREATE_PROMPTS : EXAMPLE_PROMPTS;
  useStickyBarHeight(barRef);
  const disabled = problem !== null || submitting;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!disabled) props.onSubmit();
  };

  return (
    <form onSubmit={submit} className="space-y-5" aria-label={creating ? "New image" : "New edit"} noValidate>
      {limits.text_to_image && (
        <fieldset className="space-y-1.5" aria-describedby={ids.modeNote}>
          <legend className="sr-only">Mode</legend>
          <div className="grid grid-cols-2 gap-1 rounded-xl bg-zinc-100 p-1 dark:bg-zinc-800/70">
            {MODES.map(({ mode, label }) => (
              <label key={mode} className="relative">
                <input
                  type="radio"
                  name={ids.mode}
                  value={mode}
                  data-testid={`mode-${mode}`}
                  checked={(creating ? "create" : "edit") === mode}
                  className="peer absolute inset-0 size-full cursor-pointer appearance-none rounded-lg opacity-0"
                  onChange={() => onChange("mode", mode)}
                />
                <span className="block cursor-pointer rounded-lg px-3 py-1.5 text-center text-sm font-medium text-zinc-700 transition peer-checked:bg-white peer-checked:text-indigo-700 peer-checked:shadow-sm peer-focus-visible:outline-2 peer-focus-visible:outline-indigo-500 dark:text-zinc-300 dark:peer-checked:bg-zinc-950 dark:peer-checked:text-indigo-300">
                  {label}
                </span>
              </label>
            ))}
          </div>
          <p id={ids.modeNote} className="text-xs text-zinc-600 dark:text-zinc-400">
            {creating
              ? "Make a new image from the instruction alone; references are optional."
              : "Edit the images you add, as the instruction says."}
          </p>
        </fieldset>
      )}

      <ImagePicker
        limits={limits}
        images={props.images}
        errors={props.imageErrors}
        notes={props.imageNotes ?? []}
        onUseSettings={applySettings}
        onAdd={props.onAddImages}
        onAddUrl={props.onAddImageUrl}
        onRemove={props.onRemoveImage}
        onMove={props.onMoveImage}
        onInsertTag={tags ? insertTag : undefined}
        creating={creating}
      />

      {/* A file only the server can read (TIFF, HEIC) has no picture here to paint a region on. */}
      {props.region && !creating && props.images[0] && props.images[0].width > 0 && (
        <RegionTool
          region={props.region}
          image={{ url: props.images[0].url, width: props.images[0].width, height: props.images[0].height, name: props.images[0].file.name }}
        />
      )}

      <div className="space-y-2">
        <div className="flex items-baseline justify-between">
          <label htmlFor={ids.prompt} className="text-sm font-medium">
            Instruction
          </label>
          <span id={ids.promptCount} className="text-xs text-zinc-600 dark:text-zinc-400">
            {values.prompt.length} / {limits.max_prompt_chars}
          </span>
        </div>
        <textarea
          ref={promptRef}
          id={ids.prompt}
          data-testid="prompt"
          rows={3}
          value={values.prompt}
          maxLength={limits.max_prompt_chars}
          aria-describedby={ids.promptCount}
          placeholder={
            creating
              ? "Describe the image, e.g. a lighthouse at dusk"
              : tags
                ? `Describe the change, e.g. put the hat from ${imageTag(1)} on the person in ${imageTag(0)}`
                : "Describe the change, e.g. make the sky stormy"
          }
          className={`${inputClass} resize-y`}
          onChange={(e) => onChange("prompt", e.target.value)}
        />
        <div className="flex flex-wrap gap-1.5" role="group" aria-label="Example instructions">
          {examples.map((example) => (
            <button
              key={example}
              type="button"
              className="rounded-full border border-zinc-200 px-2.5 py-1 text-xs text-zinc-600 transition hover:border-indigo-400 hover:text-indigo-700 focus-visible:outline-2 focus-visible:outline-indigo-500 dark:border-zinc-700 dark:text-zinc-300 dark:hover:text-indigo-300"
              onClick={() => onChange("prompt", example)}
            >
              {example}
            </button>
          ))}
        </div>
      </div>

      <OutputSizePicker
        limits={limits}
        values={values}
        onChange={onChange}
        creating={creating}
        input={props.images.at(-1) ?? null}
      />

      <div className="space-y-3 rounded-xl border border-zinc-200 px-3 py-3 dark:border-zinc-800">
        <div className="flex items-start gap-3">
          <input
            id={ids.fast}
            type="checkbox"
            role="switch"
            data-testid="fast"
            checked={fast}
            aria-describedby={ids.fastNote}
            className="mt-0.5 size-4 shrink-0 accent-indigo-600"
            onChange={(e) => onChange("lightning", e.target.checked)}
          />
          <div className="space-y-0.5">
            <label htmlFor={ids.fast} className="text-sm font-medium">
              Fast
            </label>
            <p id={ids.fastNote} data-testid="fast-note" className="text-xs text-zinc-600 dark:text-zinc-400">
              {!lightning
                ? `Runs ${limits.fast}${fast ? "" : `, instead of ${values.steps} steps`}${fast || fewerSteps ? ": quicker, a little less detail." : "."}`
                : fast
                  ? `Lightning: ${values.fastSteps} steps, guidance off. Several times quicker, a little less detail.`
                  : `Lightning: ${limits.lightning_steps.join(" or ")} steps without guidance instead of ${values.steps}, several times quicker, a little less detail.`}
            </p>
          </div>
        </div>
        <LoraPicker
          limits={limits}
          available={props.loras}
          error={props.lorasError}
          picked={values.loras}
          onChange={(next) => onChange("loras", next)}
          onOpen={props.onLorasOpen}
        />
      </div>

      <AdvancedSettings limits={limits} values={values} onChange={onChange} onRollSeed={props.onRollSeed} />

      {/* Stays in view at the bottom of the window however long the form gets. */}
      <div ref={barRef} data-testid="edit-bar" className="sticky bottom-0 z-10 -mx-4 -mb-4 space-y-2 rounded-b-2xl border-t border-zinc-200 bg-white/95 px-4 py-3 backdrop-blur dark:border-zinc-800 dark:bg-zinc-900/95">
        <div className="flex items-center gap-2">
          <label htmlFor={ids.count} className="shrink-0 text-sm">
            Variations
          </label>
          <select
            id={ids.count}
            data-testid="num-images"
            value={values.numImages}
            className="rounded-lg border border-zinc-300 bg-white px-2 py-2 text-sm text-zinc-900 focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-100"
            title="Each gets its own seed (seed, seed+1, …) so any one can be made again alone"
            onChange={(e) => onChange("numImages", e.target.value)}
          >
            {Array.from({ length: limits.max_num_images }, (_, i) => String(i + 1)).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <Button
            type="submit"
            variant="primary"
            data-testid="submit"
            className="flex-1 py-2.5"
            disabled={disabled}
            aria-describedby={problem ? ids.reason : undefined}
            aria-keyshortcuts="Control+Enter Meta+Enter"
          >
            {submitting ? "Submitting…" : creating ? "Create image" : "Edit image"}
            <kbd className="hidden rounded border border-white/40 px-1 text-[11px] font-normal pointer-fine:inline">{SHORTCUT}</kbd>
          </Button>
        </div>
        {problem && (
          <p id={ids.reason} data-testid="submit-reason" className="text-center text-xs text-zinc-600 dark:text-zinc-400">
            {problem}
          </p>
        )}
        {props.submitError && (
          <p data-testid="error-message" role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
            {props.submitError}
          </p>
        )}
      </div>
    </form>
  );
}
