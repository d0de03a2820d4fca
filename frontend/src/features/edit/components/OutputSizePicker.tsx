import { useId } from "react";
import type { Limits } from "../../../api/types";
import { longSideOptions, nativeSize, sizeOfLongSide, type SizeChoice } from "../lib/outputSize";
import { ASPECT_RATIOS, formatPixels, type FormValues } from "../lib/validation";
import { inputClass } from "../../../components/ui";

interface Props {
  limits: Limits;
  values: Pick<FormValues, "outputSize" | "aspectRatio" | "outputLong">;
  onChange: <K extends "outputSize" | "aspectRatio" | "outputLong">(key: K, value: FormValues[K]) => void;
  creating: boolean;
  /** The image whose size "as the input" takes (the last one), when known: 0×0 for a file only the server reads. */
  input: { width: number; height: number } | null;
}

/** The result's size, in view in the form: as the model draws it, as the input, or a shape and size. */
export function OutputSizePicker({ limits, values, onChange, creating, input }: Props) {
  const name = useId();
  const noteId = useId();
  const shapeId = useId();
  const longId = useId();
  // Create has no input to take a size from.
  const choice: SizeChoice = creating && values.outputSize === "input" ? "model" : values.outputSize;
  const ratio = values.aspectRatio || "1:1";
  const native = nativeSize(ratio, limits);
  const longs = longSideOptions(ratio, limits);
  const long = Number(values.outputLong);
  // A long side from a reused job that is not among the offered ones is offered too.
  if (values.outputLong !== "" && Number.isInteger(long) && !longs.includes(long)) longs.push(long);
  const choices: { value: SizeChoice; label: string }[] = [
    { value: "model", label: creating ? `As the model (square, ~${formatPixels(limits.native_pixels)})` : `As the model (~${formatPixels(limits.native_pixels)})` },
    ...(creating ? [] : [{ value: "input" as const, label: "As the input" }]),
    { value: "ratio", label: "Shape and size" },
  ];

  let note: string;
  if (choice === "model") {
    note = creating
      ? `${nativeSize("1:1", limits).width}×${nativeSize("1:1", limits).height}, the model's own size.`
      : "The input's shape at the model's own size, about a megapixel.";
  } else if (choice === "input") {
    note = input && input.width > 0
      ? `${input.width}×${input.height}, the size of the last image (the one edited); the model draws at ~${formatPixels(limits.native_pixels)} and the result is resized.`
      : "The size of the last image (the one edited); the model draws at ~1 MP and the result is resized.";
  } else {
    const exact = values.outputLong !== "" ? sizeOfLongSide(ratio, long) : native;
    note = values.outputLong !== ""
      ? `${exact.width}×${exact.height}: drawn at ${native.width}×${native.height}, then resized.`
      : `${native.width}×${native.height}, as the model draws this shape.`;
  }

  return (
    <fieldset className="space-y-2" aria-describedby={noteId}>
      <legend className="mb-1 text-sm font-medium">Output size</legend>
      <div className="flex flex-wrap gap-1.5">
        {choices.map(({ value, label }) => (
          <label key={value} className="relative">
            <input
              type="radio"
              name={name}
              value={value}
              data-testid={`size-${value}`}
              checked={choice === value}
              className="peer absolute inset-0 size-full cursor-pointer appearance-none rounded-full opacity-0"
              onChange={() => onChange("outputSize", value)}
            />
            <span className="block cursor-pointer rounded-full border border-zinc-300 px-2.5 py-1 text-xs text-zinc-700 transition peer-checked:border-indigo-500 peer-checked:bg-indigo-50 peer-checked:text-indigo-800 peer-focus-visible:outline-2 peer-focus-visible:outline-indigo-500 dark:border-zinc-700 dark:text-zinc-300 dark:peer-checked:bg-indigo-950 dark:peer-checked:text-indigo-200">
              {label}
            </span>
          </label>
        ))}
      </div>
      {choice === "ratio" && (
        <div className="grid grid-cols-2 gap-2">
          <div className="space-y-1">
            <label htmlFor={shapeId} className="text-xs">
              Shape
            </label>
            <select
              id={shapeId}
              data-testid="aspect-ratio"
              value={ratio}
              className={inputClass}
              onChange={(e) => onChange("aspectRatio", e.target.value)}
            >
              {ASPECT_RATIOS.map(({ ratio: r, label }) => (
                <option key={r} value={r}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div className="space-y-1">
            <label htmlFor={longId} className="text-xs">
              Size
            </label>
            <select
              id={longId}
              data-testid="output-long"
              value={values.outputLong}
              className={inputClass}
              onChange={(e) => onChange("outputLong", e.target.value)}
            >
              <option value="">
                {native.width}×{native.height} (the model's)
              </option>
              {longs.map((side) => {
                const size = sizeOfLongSide(ratio, side);
                return (
                  <option key={side} value={String(side)}>
                    {size.width}×{size.height} (resized)
                  </option>
                );
              })}
            </select>
          </div>
        </div>
      )}
      <p id={noteId} data-testid="size-note" className="text-xs text-zinc-600 dark:text-zinc-400">
        {note}
      </p>
    </fieldset>
  );
}
