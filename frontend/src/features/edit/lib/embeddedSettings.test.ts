import { describe, expect, it } from "vitest";
import { makeLimits } from "../../../test/fixtures";
import { parseA1111, parseEmbeddedSettings, readEmbeddedSettings, settingsSummary, settingsToForm, userComment } from "./embeddedSettings";

// 8x8 results as the server encodes them (imaging.encode_image with these settings), one per output format.
const QIE = {
  png: "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAABFmlUWHRxaWUtc2V0dGluZ3MAAAAAAHsiZm9ybWF0IjogInFpZS1zZXR0aW5ncy8xIiwgInByb21wdCI6ICJNYWtlIHRoZSBza3kgc3Rvcm15IDxpbWFnZTE+IMO8bsOvIiwgIm5lZ2F0aXZlX3Byb21wdCI6ICJibHVycnkiLCAic2VlZCI6IDQyLCAic3RlcHMiOiAzLCAiZ3VpZGFuY2UiOiAyLjUsICJtb2RlbCI6ICJRd2VuL1F3ZW4tSW1hZ2UtRWRpdC0yNTExIiwgImxvcmFzIjogW3sibmFtZSI6ICJzdHlsZS5zYWZldGVuc29ycyIsICJ3ZWlnaHQiOiAwLjh9XSwgImxpZ2h0bmluZyI6IGZhbHNlfSoi4w8AAACraVRYdHBhcmFtZXRlcnMAAAAAAE1ha2UgdGhlIHNreSBzdG9ybXkgPGltYWdlMT4gw7xuw68gPGxvcmE6c3R5bGUuc2FmZXRlbnNvcnM6MC44PgpOZWdhdGl2ZSBwcm9tcHQ6IGJsdXJyeQpTdGVwczogMywgQ0ZHIHNjYWxlOiAyLjUsIFNlZWQ6IDQyLCBNb2RlbDogUXdlbi9Rd2VuLUltYWdlLUVkaXQtMjUxMWJINY8AAAAWSURBVHgBY+QSkWPABpiwCYLEBqcEADVcAExGjhG7AAAAAElFTkSuQmCC",
  jpeg: "/9j/4AAQSkZJRgABAQAAAQABAAD/4QFKRXhpZgAATU0AKgAAAAgAAYdpAAQAAAABAAAAGgAAAAAAAZKGAAEAAAEVAAAALAAAAABBU0NJSQAAAHsiZm9ybWF0IjogInFpZS1zZXR0aW5ncy8xIiwgInByb21wdCI6ICJNYWtlIHRoZSBza3kgc3Rvcm15IDxpbWFnZTE+IFx1MDBmY25cdTAwZWYiLCAibmVnYXRpdmVfcHJvbXB0IjogImJsdXJyeSIsICJzZWVkIjogNDIsICJzdGVwcyI6IDMsICJndWlkYW5jZSI6IDIuNSwgIm1vZGVsIjogIlF3ZW4vUXdlbi1JbWFnZS1FZGl0LTI1MTEiLCAibG9yYXMiOiBbeyJuYW1lIjogInN0eWxlLnNhZmV0ZW5zb3JzIiwgIndlaWdodCI6IDAuOH1dLCAibGlnaHRuaW5nIjogZmFsc2V9AP/bAEMAAgEBAQEBAgEBAQICAgICBAMCAgICBQQEAwQGBQYGBgUGBgYHCQgGBwkHBgYICwgJCgoKCgoGCAsMCwoMCQoKCv/bAEMBAgICAgICBQMDBQoHBgcKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCv/AABEIAAgACAMBEQACEQEDEQH/xAAfAAABBQEBAQEBAQAAAAAAAAAAAQIDBAUGBwgJCgv/xAC1EAACAQMDAgQDBQUEBAAAAX0BAgMABBEFEiExQQYTUWEHInEUMoGRoQgjQrHBFVLR8CQzYnKCCQoWFxgZGiUmJygpKjQ1Njc4OTpDREVGR0hJSlNUVVZXWFlaY2RlZmdoaWpzdHV2d3h5eoOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4eLj5OXm5+jp6vHy8/T19vf4+fr/xAAfAQADAQEBAQEBAQEBAAAAAAAAAQIDBAUGBwgJCgv/xAC1EQACAQIEBAMEBwUEBAABAncAAQIDEQQFITEGEkFRB2FxEyIygQgUQpGhscEJIzNS8BVictEKFiQ04SXxFxgZGiYnKCkqNTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqCg4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2dri4+Tl5ufo6ery8/T19vf4+fr/2gAMAwEAAhEDEQA/APxHr3Dxz//Z",
  webp: "UklGRpABAABXRUJQVlA4WAoAAAAIAAAABwAABwAAVlA4ICgAAAAwAQCdASoIAAgAAIAIJZQAA3AA/v+A5Z/9qflZ7vvu//Qruz4i3AAARVhJRkIBAABNTQAqAAAACAABh2kABAAAAAEAAAAaAAAAAAABkoYAAQAAARUAAAAsAAAAAEFTQ0lJAAAAeyJmb3JtYXQiOiAicWllLXNldHRpbmdzLzEiLCAicHJvbXB0IjogIk1ha2UgdGhlIHNreSBzdG9ybXkgPGltYWdlMT4gXHUwMGZjblx1MDBlZiIsICJuZWdhdGl2ZV9wcm9tcHQiOiAiYmx1cnJ5IiwgInNlZWQiOiA0MiwgInN0ZXBzIjogMywgImd1aWRhbmNlIjogMi41LCAibW9kZWwiOiAiUXdlbi9Rd2VuLUltYWdlLUVkaXQtMjUxMSIsICJsb3JhcyI6IFt7Im5hbWUiOiAic3R5bGUuc2FmZXRlbnNvcnMiLCAid2VpZ2h0IjogMC44fV0sICJsaWdodG5pbmciOiBmYWxzZX0A",
};
const bytesOf = (base64: string) => Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};
const u32be = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** A PNG with one tEXt chunk (CRCs are not checked by the reader, so zeros do). */
function pngWithText(key: string, text: string): Uint8Array {
  const chunk = (type: string, data: Uint8Array) => concat(u32be(data.length), latin1(type), data, u32be(0));
  return concat(
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", new Uint8Array(13)),
    chunk("tEXt", concat(latin1(key), new Uint8Array([0]), latin1(text))),
    chunk("IEND", new Uint8Array(0)),
  );
}

/** A big-endian EXIF block whose Exif IFD holds `comment` (8-byte charset prefix included) as UserComment. */
function exifWithComment(comment: Uint8Array): Uint8Array {
  const u16 = (n: number) => new Uint8Array([n >> 8, n & 255]);
  const ifd0 = concat(u16(1), u16(0x8769), u16(4), u32be(1), u32be(26), u32be(0)); // at 8, 18 bytes
  const exifIfd = concat(u16(1), u16(0x9286), u16(7), u32be(comment.length), u32be(44), u32be(0)); // at 26
  return concat(latin1("MM\0*"), u32be(8), ifd0, exifIfd, comment);
}

const A1111 =
  "a castle on a hill, <lora:detail:0.6> golden hour\nNegative prompt: blurry, lowres\nSteps: 28, Sampler: DPM++ 2M, CFG scale: 6.5, Seed: 1234567, Size: 1216x832, Model hash: abc, Model: sdxl_base, Version: v1.9";

describe("parseEmbeddedSettings", () => {
  const ours = {
    source: "qie",
    prompt: "Make the sky stormy <image1> ünï",
    negativePrompt: "blurry",
    seed: 42,
    steps: 3,
    guidance: 2.5,
    model: "Qwen/Qwen-Image-Edit-2511",
    loras: [{ name: "style.safetensors", weight: 0.8 }],
    lightning: false,
  };

  it.each(Object.entries(QIE))("reads our own settings from a %s result", async (_, base64) => {
    expect(await parseEmbeddedSettings(bytesOf(base64))).toEqual(ours);
  });

  it("reads them from a File's first bytes", async () => {
    expect(await readEmbeddedSettings(new Blob([bytesOf(QIE.png)]))).toEqual(ours);
  });

  it("reads A1111's parameters from a PNG text chunk", async () => {
    expect(await parseEmbeddedSettings(pngWithText("parameters", A1111))).toEqual({
      source: "a1111",
      prompt: "a castle on a hill, golden hour",
      negativePrompt: "blurry, lowres",
      steps: 28,
      guidance: 6.5,
      seed: 1234567,
      model: "sdxl_base",
      loras: [{ name: "detail", weight: 0.6 }],
      lightning: undefined,
      width: 1216,
      height: 832,
    });
  });

  it("reads A1111's parameters from a JPEG's UNICODE UserComment (UTF-16, big-endian as piexif writes)", async () => {
    const utf16be = Uint8Array.from([...A1111].flatMap((c) => [c.charCodeAt(0) >> 8, c.charCodeAt(0) & 255]));
    const exif = exifWithComment(concat(latin1("UNICODE\0"), utf16be));
    const app1 = concat(latin1("Exif\0\0"), exif);
    const jpeg = concat(new Uint8Array([0xff, 0xd8, 0xff, 0xe1, (app1.length + 2) >> 8, (app1.length + 2) & 255]), app1, new Uint8Array([0xff, 0xda, 0, 2]));
    expect(await parseEmbeddedSettings(jpeg)).toMatchObject({ source: "a1111", seed: 1234567, steps: 28 });
    expect(userComment(exif)).toBe(A1111);
  });

  it("finds nothing in a file without settings, text that is no A1111 text, or bytes of no image", async () => {
    expect(await parseEmbeddedSettings(pngWithText("Comment", "made with love"))).toBeNull();
    expect(await parseEmbeddedSettings(pngWithText("parameters", "just a caption"))).toBeNull();
    expect(await parseEmbeddedSettings(latin1("GIF89a"))).toBeNull();
    expect(await parseEmbeddedSettings(bytesOf(QIE.png).subarray(0, 60))).toBeNull(); // cut inside the chunk
  });

  it("ignores JSON that is not ours", async () => {
    expect(await parseEmbeddedSettings(pngWithText("qie-settings", '{"prompt": "x"}'))).toBeNull();
  });
});

describe("parseA1111", () => {
  it("reads a prompt alone with its settings line, quoted values included", () => {
    expect(parseA1111('a cat\nSteps: 20, Sampler: "Euler, a", CFG scale: 7, Seed: 5')).toMatchObject({
      prompt: "a cat",
      negativePrompt: undefined,
      steps: 20,
      guidance: 7,
      seed: 5,
    });
  });
});

describe("settingsToForm", () => {
  const limits = makeLimits({ model_name: "Qwen-Image-Edit-2511" });

  it("fills in what maps, within the server's limits", async () => {
    const settings = (await parseEmbeddedSettings(bytesOf(QIE.png)))!;
    expect(settingsToForm(settings, limits)).toEqual({
      values: {
        prompt: "Make the sky stormy <image1> ünï",
        negativePrompt: "blurry",
        seed: "42",
        lightning: false,
        steps: "3",
        cfg: "2.5",
        loras: [{ name: "style.safetensors", weight: "0.8" }],
      },
      notes: [],
    });
    expect(settingsSummary(settings)).toBe('"Make the sky stormy <image1> ünï" · seed 42 · 3 steps · guidance 2.5 · LoRA style.safetensors · Qwen/Qwen-Image-Edit-2511');
  });

  it("maps A1111's size to a shape and says what it could not use", () => {
    const settings = parseA1111("a cat\nSteps: 300, CFG scale: 30, Seed: 5, Size: 1344x768, Model: sdxl")!;
    const { values, notes } = settingsToForm(settings, limits);
    expect(values).toMatchObject({ prompt: "a cat", seed: "5", outputSize: "ratio", aspectRatio: "16:9", outputLong: "1344" });
    expect(values.steps).toBeUndefined();
    expect(notes).toEqual([
      "300 steps is beyond this server's 2–150",
      "guidance 30 is beyond this model's 1–20",
      "made with sdxl; this server runs Qwen-Image-Edit-2511",
    ]);
  });

  it("turns Fast on with its steps for a Lightning result", () => {
    const { values } = settingsToForm({ source: "qie", prompt: "p", steps: 4, lightning: true, guidance: 1 }, limits);
    expect(values).toMatchObject({ lightning: true, fastSteps: "4" });
    expect(values.steps).toBeUndefined();
  });
});
