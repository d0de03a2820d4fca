import { describe, expect, it } from "vitest";
import { fileOf, makeLimits } from "../../../test/fixtures";
import {
  checkCount,
  checkDimensions,
  checkFile,
  checkUploadBytes,
  defaultFormValues,
  formProblem,
  MULTIPART_SLACK_BYTES,
  randomSeed,
} from "./validation";

const limits = makeLimits({ max_image_bytes: 1000, max_image_pixels: 1_000_000, max_images: 3 });

describe("checkFile", () => {
  it("accepts a supported type within the size limit", () => {
    expect(checkFile(fileOf("a.png", "image/png", 1000), limits)).toBeNull();
  });
  it("refuses an unsupported type and names the accepted ones", () => {
    const reason = checkFile(fileOf("a.gif", "image/gif", 10), limits);
    expect(reason).toMatch(/unsupported type image\/gif/);
    expect(reason).toMatch(/JPEG, PNG, WEBP/);
  });
  it("refuses a file one byte over the limit", () => {
    expect(checkFile(fileOf("big.jpg", "image/jpeg", 1001), limits)).toMatch(/big\.jpg is .*limit is/);
  });
  it("uses the limits it is given, not a constant", () => {
    expect(checkFile(fileOf("a.png", "image/png", 1001), makeLimits({ max_image_bytes: 5000 }))).toBeNull();
    expect(checkFile(fileOf("a.png", "image/png", 10), makeLimits({ accepted_types: ["image/jpeg"] }))).not.toBeNull();
  });
});

describe("checkDimensions", () => {
  it("accepts exactly the pixel limit and refuses one pixel more", () => {
    expect(checkDimensions("a", 1000, 1000, limits)).toBeNull();
    expect(checkDimensions("a", 1001, 1000, limits)).toMatch(/1001×1000/);
  });
  it("refuses an image with no size", () => {
    expect(checkDimensions("a", 0, 0, limits)).toMatch(/could not be read/);
  });
  it("refuses a side shorter than min_image_side, on either axis", () => {
    const l = makeLimits({ min_image_side: 16 });
    expect(checkDimensions("a.png", 16, 16, l)).toBeNull();
    expect(checkDimensions("a.png", 15, 100, l)).toBe("a.png is 15×100; each side must be at least 16 pixels.");
    expect(checkDimensions("a.png", 100, 15, l)).toMatch(/at least 16 pixels/);
    expect(checkDimensions("a.png", 15, 15, makeLimits({ min_image_side: 8 }))).toBeNull();
  });
  it("refuses an aspect ratio beyond max_aspect_ratio, either way round", () => {
    const l = makeLimits({ max_aspect_ratio: 8, min_image_side: 16 });
    expect(checkDimensions("wide.png", 800, 100, l)).toBeNull(); // exactly 8:1
    expect(checkDimensions("wide.png", 801, 100, l)).toBe("wide.png is 801×100, an aspect ratio of 8.0:1; the limit is 8:1.");
    expect(checkDimensions("tall.png", 100, 900, l)).toMatch(/9\.0:1; the limit is 8:1/);
    expect(checkDimensions("wide.png", 900, 100, makeLimits({ max_aspect_ratio: 10 }))).toBeNull();
  });
});

describe("checkUploadBytes", () => {
  it("keeps all images together within max_upload_bytes, with room for the rest of the form", () => {
    const l = makeLimits({ max_upload_bytes: 100_000 });
    const room = 100_000 - MULTIPART_SLACK_BYTES;
    expect(checkUploadBytes([room - 10, 10], l)).toBeNull();
    expect(checkUploadBytes([room - 10, 11], l)).toMatch(/one upload may carry/);
  });
});

describe("checkCount", () => {
  it("accepts what fits and explains the rest", () => {
    expect(checkCount(0, 3, limits)).toEqual({ accept: 3, reason: null });
    const over = checkCount(2, 3, limits);
    expect(over.accept).toBe(1);
    expect(over.reason).toMatch(/At most 3 images.*2 not added/);
    expect(checkCount(3, 1, limits).accept).toBe(0);
  });
});

describe("formProblem", () => {
  const valid = { ...defaultFormValues(limits), prompt: "make it blue" };

  it("defaults come from the limits", () => {
    const values = defaultFormValues(makeLimits({ default_steps: 28, default_cfg: 2.5, output_formats: ["webp"] }));
    expect(values).toMatchObject({ steps: "28", cfg: "2.5", outputFormat: "webp", seed: "" });
  });
  it("is null for a valid form", () => {
    expect(formProblem(valid, [10], limits)).toBeNull();
  });
  it("needs an image and a prompt", () => {
    expect(formProblem(valid, [], limits)).toMatch(/at least one image/);
    expect(formProblem({ ...valid, prompt: "   " }, [10], limits)).toMatch(/prompt/);
  });
  it("checks steps and guidance against the limits", () => {
    const l = makeLimits({ min_steps: 4, max_steps: 30, min_cfg: 1, max_cfg: 10 });
    expect(formProblem({ ...valid, steps: "30" }, [10], l)).toBeNull();
    expect(formProblem({ ...valid, steps: "31" }, [10], l)).toBe("Steps must be a whole number from 4 to 30.");
    expect(formProblem({ ...valid, steps: "3" }, [10], l)).toMatch(/from 4 to 30/);
    expect(formProblem({ ...valid, steps: "10.5" }, [10], l)).toMatch(/whole number/);
    expect(formProblem({ ...valid, cfg: "10.5" }, [10], l)).toBe("Guidance must be between 1 and 10.");
    expect(formProblem({ ...valid, cfg: "" }, [10], l)).toMatch(/Guidance/);
  });
  it("allows an empty seed but not one out of range", () => {
    expect(formProblem({ ...valid, seed: "" }, [10], limits)).toBeNull();
    expect(formProblem({ ...valid, seed: "4294967295" }, [10], limits)).toBeNull();
    expect(formProblem({ ...valid, seed: "4294967296" }, [10], limits)).toMatch(/Seed/);
    expect(formProblem({ ...valid, seed: "-1" }, [10], limits)).toMatch(/Seed/);
  });
  it("refuses images that together exceed max_upload_bytes", () => {
    const l = makeLimits({ max_upload_bytes: 50_000 });
    expect(formProblem(valid, [10_000, 10_000], l)).toBeNull();
    expect(formProblem(valid, [30_000, 10_000], l)).toMatch(/add up to/);
  });
  it("limits prompt length", () => {
    const l = makeLimits({ max_prompt_chars: 5 });
    expect(formProblem({ ...valid, prompt: "123456" }, [10], l)).toMatch(/longer than 5/);
  });
  it("Fast needs one of lightning_steps, and ignores the ordinary steps and guidance", () => {
    const l = makeLimits({ lightning_steps: [4, 8] });
    const fast = { ...valid, lightning: true, steps: "", cfg: "99" };
    expect(defaultFormValues(l).fastSteps).toBe("8");
    expect(defaultFormValues(makeLimits({ lightning_steps: [4] })).fastSteps).toBe("4");
    expect(formProblem({ ...fast, fastSteps: "8" }, [10], l)).toBeNull();
    expect(formProblem({ ...fast, fastSteps: "6" }, [10], l)).toBe("Fast runs 4 or 8 steps.");
  });
  it("checks LoRAs: at most max_loras, distinct, weights in range, listed and fitting", () => {
    const l = makeLimits({ max_loras: 2, min_lora_weight: -1, max_lora_weight: 2 });
    const listed = [
      { name: "a", size_bytes: 1, matches: true, reason: null },
      { name: "b", size_bytes: 1, matches: null, reason: null },
      { name: "c", size_bytes: 1, matches: false, reason: "wrong shapes" },
    ];
    const picks = (...p: [string, string][]) => ({ ...valid, loras: p.map(([name, weight]) => ({ name, weight })) });
    expect(formProblem(picks(["a", "0.8"], ["b", "-1"]), [10], l, listed)).toBeNull();
    expect(formProblem(picks(["a", "1"], ["b", "1"], ["x", "1"]), [10], l)).toBe("Use at most 2 LoRAs.");
    expect(formProblem(picks(["a", "1"], ["a", "1"]), [10], l)).toMatch(/picked twice/);
    expect(formProblem(picks(["a", "2.5"]), [10], l)).toBe("The weight of a must be between -1 and 2.");
    expect(formProblem(picks(["a", ""]), [10], l)).toMatch(/weight of a/);
    expect(formProblem(picks(["x", "1"]), [10], l, listed)).toMatch(/x is not on the server/);
    expect(formProblem(picks(["c", "1"]), [10], l, listed)).toBe("The LoRA c does not fit the loaded model: wrong shapes; remove it.");
    // Not listed yet: the server decides.
    expect(formProblem(picks(["x", "1"]), [10], l, null)).toBeNull();
  });
});

describe("randomSeed", () => {
  it("stays within 0..max_seed", () => {
    expect(randomSeed(limits, () => 0)).toBe(0);
    expect(randomSeed(limits, () => 0.9999999999)).toBe(limits.max_seed);
  });
});
