import { describe, expect, it } from "vitest";
import { makeLimits } from "../../../test/fixtures";
import { longSideOptions, nativeSize, sizeRequest, sizeValuesOf } from "./outputSize";
import { ASPECT_RATIOS } from "./validation";

const limits = makeLimits({ native_pixels: 1024 * 1024, size_multiple: 16, max_output_side: 4096 });
const ratios = ASPECT_RATIOS.map(({ ratio }) => ratio);

describe("output size", () => {
  it("draws a shape at the model's area in its multiples, as the server's native_size", () => {
    expect(nativeSize("16:9", limits)).toEqual({ width: 1360, height: 768 });
    expect(nativeSize("1:1", limits)).toEqual({ width: 1024, height: 1024 });
    expect(nativeSize("2:3", makeLimits({ native_pixels: 1024 * 1024, size_multiple: 32 }))).toEqual({ width: 832, height: 1248 });
  });

  it("offers long sides beyond the model's own, up to max_output_side", () => {
    expect(longSideOptions("16:9", limits)).toEqual([1536, 2048, 3072, 4096]);
    expect(longSideOptions("1:1", makeLimits({ max_output_side: 2048 }))).toEqual([1536, 2048]);
  });

  it("asks the server for what was chosen", () => {
    const base = { aspectRatio: "", outputLong: "" };
    expect(sizeRequest({ ...base, outputSize: "model" }, false)).toEqual({ keep_input_size: false, output_size: null });
    expect(sizeRequest({ ...base, outputSize: "input" }, false)).toEqual({ keep_input_size: true, output_size: null });
    // Create has no input: the model's own size.
    expect(sizeRequest({ ...base, outputSize: "input" }, true)).toEqual({ keep_input_size: false, output_size: null });
    expect(sizeRequest({ outputSize: "ratio", aspectRatio: "16:9", outputLong: "" }, false)).toEqual({
      keep_input_size: false,
      aspect_ratio: "16:9",
      output_size: null,
    });
    expect(sizeRequest({ outputSize: "ratio", aspectRatio: "3:4", outputLong: "2048" }, true)).toEqual({
      keep_input_size: false,
      aspect_ratio: "3:4",
      output_size: [1536, 2048],
    });
  });

  it("reads a job's size back into the choices (Reuse)", () => {
    const config = { keep_input_size: false, output_size: null, aspect_ratio: null };
    expect(sizeValuesOf({ ...config, keep_input_size: true }, ratios, limits)).toEqual({ outputSize: "input", aspectRatio: "", outputLong: "" });
    expect(sizeValuesOf(config, ratios, limits)).toEqual({ outputSize: "model", aspectRatio: "", outputLong: "" });
    // A shape alone is stored with the size the server drew it at: no size was asked for.
    expect(sizeValuesOf({ ...config, aspect_ratio: "16:9", output_size: [1360, 768] }, ratios, limits)).toEqual({
      outputSize: "ratio",
      aspectRatio: "16:9",
      outputLong: "",
    });
    expect(sizeValuesOf({ ...config, aspect_ratio: "16:9", output_size: [2048, 1152] }, ratios, limits)).toEqual({
      outputSize: "ratio",
      aspectRatio: "16:9",
      outputLong: "2048",
    });
    expect(sizeValuesOf({ ...config, output_size: [900, 1200] }, ratios, limits)).toEqual({ outputSize: "ratio", aspectRatio: "3:4", outputLong: "1200" });
    expect(sizeValuesOf({ ...config, output_size: [1000, 123] }, ratios, limits)).toEqual({ outputSize: "model", aspectRatio: "", outputLong: "" });
  });
});
