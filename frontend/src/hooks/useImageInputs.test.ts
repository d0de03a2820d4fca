import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { fileOf, makeLimits } from "../test/fixtures";
import { useImageInputs } from "./useImageInputs";

// Sizes by file name, so each test says what the "decoder" will find.
const sizes: Record<string, { width: number; height: number }> = {
  "small.png": { width: 100, height: 100 },
  "huge.png": { width: 2000, height: 2000 },
};
const readSize = async (file: File) => {
  const size = sizes[file.name];
  if (!size) throw new Error("undecodable");
  return size;
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

  it("refuses wrong type, oversized and too many pixels, each with its reason", async () => {
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
});
