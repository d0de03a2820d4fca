import { describe, expect, it } from "vitest";
import { makeJob } from "../../../test/fixtures";
import { MAX_SEED, variationConfig, variationSeed } from "./variations";

describe("variations", () => {
  it("gives each result its own seed, wrapping past the largest like the server", () => {
    expect(variationSeed(987, 2)).toBe(989);
    expect(variationSeed(MAX_SEED, 1)).toBe(0);
    expect(variationSeed(null, 1)).toBeNull();
  });

  it("makes the settings that run the picked result again: its seed and one image", () => {
    const { config } = makeJob({ config: { ...makeJob().config, seed: 987, num_images: 4 } });
    expect(variationConfig(config, 2)).toEqual({ ...config, seed: 989, num_images: 1 });
  });
});
