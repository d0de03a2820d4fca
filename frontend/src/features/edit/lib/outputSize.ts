/**
 * The result's size as the form offers it: as the model draws (~1 MP, `native_pixels`), as the input
 * (`keep_input_size`), or a shape and size (`aspect_ratio`, and `output_size` for more than the model draws).
 * The model's numbers (`native_pixels`, `size_multiple`, `max_output_side`) come from GET /api/limits.
 */
import type { EditRequest, Limits } from "../../../api/types";

export type SizeChoice = "model" | "input" | "ratio";

export const SIZE_CHOICES: readonly SizeChoice[] = ["model", "input", "ratio"];

export const isSizeChoice = (value: string): value is SizeChoice => SIZE_CHOICES.some((choice) => choice === value);

type SizeLimits = Pick<Limits, "native_pixels" | "size_multiple" | "max_output_side">;

/** "16:9" as [16, 9]; null for anything else. */
export function parseRatio(ratio: string): [number, number] | null {
  const match = /^([1-9][0-9]?):([1-9][0-9]?)$/.exec(ratio);
  return match ? [Number(match[1]), Number(match[2])] : null;
}

/** The size the model draws at this shape: its native area, each side a multiple of what it takes (as the
 * server's `edit_request.native_size`). */
export function nativeSize(ratio: string, limits: SizeLimits): { width: number; height: number } {
  const [w, h] = parseRatio(ratio) ?? [1, 1];
  const step = limits.size_multiple;
  const aspect = w / h;
  return {
    width: Math.max(step, Math.round(Math.sqrt(limits.native_pixels * aspect) / step) * step),
    height: Math.max(step, Math.round(Math.sqrt(limits.native_pixels / aspect) / step) * step),
  };
}

/** An exact size of this shape whose long side is `long` pixels. */
export function sizeOfLongSide(ratio: string, long: number): { width: number; height: number } {
  const [w, h] = parseRatio(ratio) ?? [1, 1];
  const short = Math.max(1, Math.round((long * Math.min(w, h)) / Math.max(w, h)));
  return w >= h ? { width: long, height: short } : { width: short, height: long };
}

/** Long sides offered beyond the model's own size, within `max_output_side`: the model draws ~1 MP and the
 * result is resized up to these. */
export function longSideOptions(ratio: string, limits: SizeLimits): number[] {
  const native = nativeSize(ratio, limits);
  const nativeLong = Math.max(native.width, native.height);
  return [1536, 2048, 3072, 4096].filter((long) => long > nativeLong && long <= limits.max_output_side);
}

export interface SizeValues {
  outputSize: SizeChoice;
  aspectRatio: string;
  /** A long side in pixels, or "" for the model's own area at the chosen shape. */
  outputLong: string;
}

/** The request's size fields for these choices. Create has no input to take a size from. */
export function sizeRequest(values: SizeValues, creating: boolean): Pick<EditRequest, "keep_input_size" | "output_size" | "aspect_ratio"> {
  if (values.outputSize === "input" && !creating) return { keep_input_size: true, output_size: null };
  if (values.outputSize !== "ratio") return { keep_input_size: false, output_size: null };
  const ratio = parseRatio(values.aspectRatio) ? values.aspectRatio : "1:1";
  const long = Number(values.outputLong);
  const exact = values.outputLong !== "" && Number.isInteger(long) && long > 0 ? sizeOfLongSide(ratio, long) : null;
  return { keep_input_size: false, aspect_ratio: ratio, output_size: exact ? [exact.width, exact.height] : null };
}

/** The form's size choices for a job's settings (Reuse). `ratios`: the shapes the form offers. */
export function sizeValuesOf(
  config: Pick<EditRequest, "keep_input_size" | "output_size" | "aspect_ratio">,
  ratios: readonly string[],
  limits: SizeLimits,
): SizeValues {
  if (config.keep_input_size) return { outputSize: "input", aspectRatio: "", outputLong: "" };
  const [sizeW = 0, sizeH = 0] = config.output_size ?? [];
  const size = sizeW > 0 && sizeH > 0;
  const near = (r: string) => {
    const [w, h] = parseRatio(r) ?? [1, 1];
    return size && Math.abs(sizeW / sizeH - w / h) < 0.01;
  };
  // An exact size asked for without a shape: the offered shape it is, if any.
  const ratio = config.aspect_ratio && ratios.includes(config.aspect_ratio) ? config.aspect_ratio : (ratios.find(near) ?? "");
  if (!ratio) return { outputSize: "model", aspectRatio: "", outputLong: "" };
  // A shape alone is recorded with the size the model drew it at (its native area): no size was asked for.
  const native = nativeSize(ratio, limits);
  const asked = size && !(sizeW === native.width && sizeH === native.height) ? String(Math.max(sizeW, sizeH)) : "";
  return { outputSize: "ratio", aspectRatio: ratio, outputLong: asked };
}
