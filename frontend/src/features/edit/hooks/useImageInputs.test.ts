import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { MULTIPART_SLACK_BYTES } from "../lib/validation";
import { fileOf, makeLimits } from "../../../test/fixtures";
import { useImageInputs } from "./useImageInputs";

// Sizes by file name, so each test says what the "decoder" will find.
const sizes: Record<string, { width: number; height: number }> = {
  "small.png": { width: 100, height: 100 },
  "huge.png": { width: 2000, height: 2000 },
  "tiny.png": { width: 100, height: 15 },
  "strip.png": { width: 900, height: 100 },
};
const readSize = (file: File) => {
  const size = sizes[file.name];
  return size ? Promise.resolve(size) : Promise.reject(new Error("undecodable"));
};

function setup(limits = makeLimits({ max_image_pixels: 1_000_000, max_image_bytes: 1000, max_images: 3 })) {
  return renderHook(() => useImageInputs(limits, readSize));
}

describe("useImageInputs", () => {
  it("adds valid images in order", async () => {
    const { result } = setup();
    await act(() => result.current.add([fileOf("small.png", "image/png", 10)]));
    expect(result.current.images).toHaveLength(1);
    expect(result.current.images[0]).toMatchObject({ width: 100, height: 100 });
    expect(result.current.errors).toEqual([]);
  });

  it("refuses wrong type, and too many bytes or pixels where this browser cannot reduce, each with its reason", async () => {
    const { result } = setup();
    await act(() =>
      result.current.add([
        fileOf("anim.gif", "image/gif", 10),
        fileOf("small.png", "image/png", 5000),
        fileOf("huge.png", "image/png", 10),
      ]),
    );
    expect(result.current.images).toHaveLength(0);
    expect(result.current.errors).toHaveLength(3);
    expect(result.current.errors[0]).toMatch(/unsupported type/);
    expect(result.current.errors[1]).toMatch(/limit is/);
    expect(result.current.errors[2]).toMatch(/2000×2000/);
  });

  it("refuses a side below min_image_side and an aspect ratio beyond max_aspect_ratio, before any upload", async () => {
    const { result } = setup(makeLimits({ min_image_side: 16, max_aspect_ratio: 8 }));
    await act(() =>
      result.current.add([fileOf("tiny.png", "image/png", 10), fileOf("strip.png", "image/png", 10), fileOf("small.png", "image/png", 10)]),
    );
    expect(result.current.images.map((i) => i.file.name)).toEqual(["small.png"]);
    expect(result.current.errors).toEqual([
      "tiny.png is 100×15; each side must be at least 16 pixels.",
      "strip.png is 900×100, an aspect ratio of 9.0:1; the limit is 8:1.",
    ]);
  });

  it("refuses the image that would take one upload over max_upload_bytes", async () => {
    const limit = MULTIPART_SLACK_BYTES + 1500;
    const { result } = setup(makeLimits({ max_upload_bytes: limit, max_image_bytes: 1000 }));
    await act(() => result.current.add([fileOf("small.png", "image/png", 1000)]));
    await act(() => result.current.add([fileOf("small.png", "image/png", 600), fileOf("small.png", "image/png", 400)]));
    expect(result.current.images.map((i) => i.file.size)).toEqual([1000, 400]);
    expect(result.current.errors).toHaveLength(1);
    expect(result.current.errors[0]).toMatch(/small\.png not added\. The images add up to/);
  });

  it("refuses files the browser cannot decode", async () => {
    const { result } = setup();
    await act(() => result.current.add([fileOf("broken.png", "image/png", 10)]));
    expect(result.current.images).toHaveLength(0);
    expect(result.current.errors[0]).toMatch(/could not be read/);
  });

  it("stops at max_images, also across two quick adds", async () => {
    const { result } = setup(makeLimits({ max_images: 2 }));
    await act(async () => {
      const a = result.current.add([fileOf("small.png", "image/png", 10)]);
      const b = result.current.add([fileOf("small.png", "image/png", 10), fileOf("small.png", "image/png", 10)]);
      await Promise.all([a, b]);
    });
    expect(result.current.images).toHaveLength(2);
    expect(result.current.errors.join(" ")).toMatch(/At most 2 images/);
    // Removing one makes room again.
    act(() => result.current.remove(result.current.images[0]!.id));
    await act(() => result.current.add([fileOf("small.png", "image/png", 10)]));
    expect(result.current.images).toHaveLength(2);
  });

  it("reorders and replaces", async () => {
    const { result } = setup();
    await act(() => result.current.add([fileOf("small.png", "image/png", 1), fileOf("small.png", "image/png", 2)]));
    const [first, second] = result.current.images;
    act(() => result.current.move(0, 1));
    expect(result.current.images.map((i) => i.id)).toEqual([second!.id, first!.id]);
    act(() => result.current.move(1, 1)); // off the end: no change
    expect(result.current.images.map((i) => i.id)).toEqual([second!.id, first!.id]);
    await act(() => result.current.add([fileOf("small.png", "image/png", 3)], { replace: true }));
    expect(result.current.images).toHaveLength(1);
    expect(result.current.images[0]!.file.size).toBe(3);
  });

  describe("over-size files", () => {
    // A reducer that records what it was asked and returns a file of the target size.
    function reducer() {
      const calls: { name: string; target: { width: number; height: number }; maxBytes: number }[] = [];
      const reduce = (file: File, target: { width: number; height: number }, maxBytes: number) => {
        calls.push({ name: file.name, target, maxBytes });
        return Promise.resolve({ file: fileOf(file.name.replace(/\.\w+$/, ".jpg"), "image/jpeg", 700), size: target });
      };
      return { calls, reduce };
    }
    const big = makeLimits({ max_image_bytes: 1000, max_image_pixels: 1_000_000, stored_input_pixels: 200_000 });
    const camera: Record<string, { width: number; height: number }> = {
      "big60.png": { width: 900, height: 600 },
      "huge10k.png": { width: 10_000, height: 10_000 },
      "strip.png": { width: 9000, height: 1000 },
    };
    const read = (file: File) => Promise.resolve(camera[file.name] ?? { width: 100, height: 100 });

    it("reduces one over the byte or pixel limit to the stored size and says so", async () => {
      const { calls, reduce } = reducer();
      const { result } = renderHook(() => useImageInputs(big, read, reduce));
      await act(() => result.current.add([fileOf("big60.png", "image/png", 6_100_000), fileOf("huge10k.png", "image/png", 10)]));
      expect(result.current.errors).toEqual([]);
      expect(calls).toEqual([
        { name: "big60.png", target: { width: 547, height: 365 }, maxBytes: 1000 },
        { name: "huge10k.png", target: { width: 447, height: 447 }, maxBytes: 1000 },
      ]);
      expect(result.current.images.map((i) => [i.file.name, i.file.size, i.width, i.height])).toEqual([
        ["big60.jpg", 700, 547, 365],
        ["huge10k.jpg", 700, 447, 447],
      ]);
      expect(result.current.notes).toEqual([
        "big60.png was 5.8 MB, 900×600; reduced to 547×365 before upload.",
        "huge10k.png was 10 B, 10000×10000; reduced to 447×447 before upload.",
      ]);
    });

    it("leaves a file within the limits as it is", async () => {
      const { calls, reduce } = reducer();
      const { result } = renderHook(() => useImageInputs(big, read, reduce));
      await act(() => result.current.add([fileOf("small.png", "image/png", 900)]));
      expect(calls).toEqual([]);
      expect(result.current.images[0]!.file.name).toBe("small.png");
      expect(result.current.notes).toEqual([]);
    });

    it("refuses a shape the server refuses whatever its size, without reducing it", async () => {
      const { calls, reduce } = reducer();
      const { result } = renderHook(() => useImageInputs(big, read, reduce));
      await act(() => result.current.add([fileOf("strip.png", "image/png", 60_000)]));
      expect(calls).toEqual([]);
      expect(result.current.errors).toEqual(["strip.png is 9000×1000, an aspect ratio of 9.0:1; the limit is 8:1."]);
    });

    it("sends TIFF and HEIC as they are within the byte limit, and says why a larger one cannot go", async () => {
      const { calls, reduce } = reducer();
      const limits = makeLimits({ ...big, accepted_types: ["image/jpeg", "image/png", "image/webp", "image/tiff", "image/heic"] });
      const { result } = renderHook(() => useImageInputs(limits, () => Promise.reject(new Error("not decodable")), reduce));
      // Desktop browsers give HEIC no type: it is known by its extension.
      await act(() => result.current.add([fileOf("scan.tif", "image/tiff", 900), fileOf("phone.HEIC", "", 5000)]));
      expect(calls).toEqual([]);
      expect(result.current.images.map((i) => [i.file.name, i.width, i.height])).toEqual([["scan.tif", 0, 0]]);
      expect(result.current.errors).toEqual([
        "phone.HEIC is 5 KB; the limit is 1000 B. This browser cannot reduce HEIC files: export it as JPEG, PNG or WebP and it will be reduced before upload.",
      ]);
    });
  });
});
