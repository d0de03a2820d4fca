import { describe, expect, it } from "vitest";
import { makeLimits } from "../../../test/fixtures";
import { acceptAttribute, mediaTypeOf } from "./mediaType";
import { encodings, fittedSize, needsReduction, reducedName, reductionNote } from "./reduceImage";

describe("reducing before upload", () => {
  it("fits to the stored size as the server's imaging.fitted_size does", () => {
    // The same numbers as `fitted_size((9000, 6000), 2 * 1024 * 1024)` and `((6000, 9000), ...)`.
    expect(fittedSize({ width: 9000, height: 6000 }, 2 * 1024 * 1024)).toEqual({ width: 1773, height: 1182 });
    expect(fittedSize({ width: 6000, height: 9000 }, 2 * 1024 * 1024)).toEqual({ width: 1182, height: 1773 });
    expect(fittedSize({ width: 10_000, height: 10_000 }, 2 * 1024 * 1024)).toEqual({ width: 1448, height: 1448 });
    expect(fittedSize({ width: 800, height: 600 }, 2 * 1024 * 1024)).toEqual({ width: 800, height: 600 });
  });

  it("reduces only what is over the byte or the pixel limit", () => {
    const limits = makeLimits({ max_image_bytes: 20 * 1024 * 1024, max_image_pixels: 40_000_000 });
    expect(needsReduction(58 * 1024 * 1024, { width: 9000, height: 6000 }, limits)).toBe(true);
    expect(needsReduction(10 * 1024 * 1024, { width: 10_000, height: 10_000 }, limits)).toBe(true);
    expect(needsReduction(20 * 1024 * 1024, { width: 8000, height: 5000 }, limits)).toBe(false);
  });

  it("keeps PNG and WebP lossless first (alpha kept), JPEG as JPEG, then smaller encodings", () => {
    expect(encodings("image/png").map((e) => e.type)).toEqual(["image/png", "image/webp", "image/jpeg", "image/jpeg"]);
    expect(encodings("image/jpeg")[0]).toEqual({ type: "image/jpeg", quality: 0.95 });
    expect(reducedName("big60.png", "image/png")).toBe("big60.png");
    expect(reducedName("big60.png", "image/jpeg")).toBe("big60.jpg");
    expect(reducedName("IMG_1.JPEG", "image/jpeg")).toBe("IMG_1.JPEG");
  });

  it("says what was done", () => {
    expect(reductionNote("big60.png", 58 * 1024 * 1024, { width: 9000, height: 6000 }, { width: 1773, height: 1182 }, 6_000_000)).toBe(
      "big60.png was 58.0 MB, 9000×6000; reduced to 1773×1182 before upload.",
    );
    // Within the stored size but over the byte limit (noise does not compress): only encoded smaller.
    expect(reductionNote("noise.png", 1_900_000, { width: 800, height: 800 }, { width: 800, height: 800 }, 600_000)).toBe(
      "noise.png was 1.8 MB, 800×800; encoded smaller (586 KB) before upload.",
    );
  });

  it("knows HEIC and TIFF by their extension when the browser gives no type", () => {
    expect(mediaTypeOf({ name: "IMG_0001.HEIC", type: "" })).toBe("image/heic");
    expect(mediaTypeOf({ name: "scan.tif", type: "" })).toBe("image/tiff");
    expect(mediaTypeOf({ name: "a.png", type: "image/png" })).toBe("image/png");
    expect(mediaTypeOf({ name: "notes", type: "" })).toBe("");
    expect(acceptAttribute({ accepted_types: ["image/png", "image/heic"] })).toBe("image/png,image/heic,.png,.heic");
  });
});
