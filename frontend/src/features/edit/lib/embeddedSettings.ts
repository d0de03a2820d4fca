/**
 * The settings an image file carries, read in the browser so that a dropped file can offer "Use these settings".
 *
 * Our results carry them (server `imaging.encode_image`): PNG an iTXt `qie-settings` JSON and an A1111-style
 * `parameters` text; JPEG and WebP the JSON as the EXIF UserComment. Files from A1111 and the tools that copy it
 * carry a `parameters` text (PNG text chunk, or the EXIF UserComment of a JPEG or WebP), of which what maps is
 * read: prompt, negative prompt, steps, CFG scale, seed, size, model. Only the file's first bytes are read: the
 * settings come before the pixels in all three formats as written by these tools.
 */
import type { Limits } from "../../../api/types";
import { ASPECT_RATIOS, type FormValues } from "./validation";

export interface EmbeddedSettings {
  /** "qie": our own JSON; "a1111": a `parameters` text. */
  source: "qie" | "a1111";
  prompt: string;
  negativePrompt?: string;
  seed?: number;
  steps?: number;
  guidance?: number;
  model?: string;
  loras?: { name: string; weight: number }[];
  lightning?: boolean;
  /** A1111's "Size: WxH". */
  width?: number;
  height?: number;
}

/** How much of a file is searched for settings: a big photo's pixels are never read for this. */
export const HEAD_BYTES = 1024 * 1024;

export async function readEmbeddedSettings(file: Blob): Promise<EmbeddedSettings | null> {
  const head = new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer());
  return parseEmbeddedSettings(head);
}

/** The settings in a file's bytes (PNG, JPEG or WebP), or null when it carries none we can read. */
export async function parseEmbeddedSettings(bytes: Uint8Array): Promise<EmbeddedSettings | null> {
  const texts = await textsOf(bytes);
  for (const text of texts) {
    const found = parseQie(text);
    if (found) return found;
  }
  for (const text of texts) {
    const found = parseA1111(text);
    if (found) return found;
  }
  return null;
}

/** Our own JSON (`qie-settings/1`), or null. */
export function parseQie(text: string): EmbeddedSettings | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(data) || typeof data.format !== "string" || !data.format.startsWith("qie-settings/")) return null;
  if (typeof data.prompt !== "string") return null;
  const loras = Array.isArray(data.loras)
    ? data.loras.filter(isRecord).flatMap((l) => (typeof l.name === "string" && typeof l.weight === "number" ? [{ name: l.name, weight: l.weight }] : []))
    : undefined;
  return {
    source: "qie",
    prompt: data.prompt,
    negativePrompt: typeof data.negative_prompt === "string" ? data.negative_prompt : undefined,
    seed: wholeNumber(data.seed),
    steps: wholeNumber(data.steps),
    guidance: typeof data.guidance === "number" ? data.guidance : undefined,
    model: typeof data.model === "string" ? data.model : undefined,
    loras,
    lightning: typeof data.lightning === "boolean" ? data.lightning : undefined,
  };
}

/** A1111's `parameters` text: the prompt, "Negative prompt: …", then one line "Steps: 20, Sampler: …, CFG scale: 7,
 * Seed: 1, Size: 512x768, Model: …". Its `<lora:name:weight>` tags become LoRAs. Null when it is not one. */
export function parseA1111(text: string): EmbeddedSettings | null {
  const lines = text.replace(/\r\n/g, "\n").trim().split("\n");
  const last = lines.at(-1) ?? "";
  const params = /(^|,\s*)Steps:\s*\d+/.test(last) ? parseParams(last) : null;
  if (params) lines.pop();
  const negativeAt = lines.findIndex((line) => line.startsWith("Negative prompt:"));
  const promptLines = negativeAt >= 0 ? lines.slice(0, negativeAt) : lines;
  const negative = negativeAt >= 0 ? lines.slice(negativeAt).join("\n").slice("Negative prompt:".length).trim() : undefined;
  if (!params && negativeAt < 0) return null; // plain text, not A1111's
  const loras: { name: string; weight: number }[] = [];
  const prompt = promptLines
    .join("\n")
    .replace(/\s*<lora:([^:>]+):(-?[\d.]+)>/g, (_, name: string, weight: string) => {
      loras.push({ name, weight: Number(weight) });
      return "";
    })
    .trim();
  const size = /^(\d+)x(\d+)$/.exec(params?.get("Size") ?? "");
  const number = (key: string) => {
    const value = Number(params?.get(key));
    return params?.has(key) && Number.isFinite(value) ? value : undefined;
  };
  return {
    source: "a1111",
    prompt,
    negativePrompt: negative,
    steps: number("Steps"),
    guidance: number("CFG scale"),
    seed: number("Seed"),
    model: params?.get("Model"),
    loras: loras.length ? loras : undefined,
    lightning: params?.get("Lightning") === "true" ? true : undefined,
    width: size ? Number(size[1]) : undefined,
    height: size ? Number(size[2]) : undefined,
  };
}

/** "Key: value, Key: "quoted, value"" as A1111 writes its settings line. */
function parseParams(line: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of line.matchAll(/\s*([\w ]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g)) {
    const key = match[1]?.trim();
    let value = match[2]?.trim() ?? "";
    if (value.startsWith('"')) {
      try {
        const unquoted: unknown = JSON.parse(value);
        if (typeof unquoted === "string") value = unquoted;
      } catch {
        // left quoted
      }
    }
    if (key) found.set(key, value);
  }
  return found;
}

/** The texts a file carries that may hold settings: PNG text chunks, EXIF UserComments, JPEG comments. */
async function textsOf(bytes: Uint8Array): Promise<string[]> {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return pngTexts(bytes);
  if (startsWith(bytes, [0xff, 0xd8])) return jpegTexts(bytes);
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 4) === "WEBP") return webpTexts(bytes);
  return [];
}

const SETTINGS_KEYS = new Set(["qie-settings", "parameters"]);

async function pngTexts(bytes: Uint8Array): Promise<string[]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const texts: string[] = [];
  let at = 8;
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = ascii(bytes, at + 4, 4);
    const data = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length));
    if (type === "IEND" || data.length < length) break;
    if (type === "tEXt" || type === "zTXt" || type === "iTXt") {
      const text = await pngText(type, data);
      if (text && SETTINGS_KEYS.has(text.key)) texts.push(text.value);
    }
    at += 12 + length;
  }
  return texts;
}

async function pngText(type: string, data: Uint8Array): Promise<{ key: string; value: string } | null> {
  const keyEnd = data.indexOf(0);
  if (keyEnd < 0) return null;
  const key = latin1(data.subarray(0, keyEnd));
  if (type === "tEXt") return { key, value: latin1(data.subarray(keyEnd + 1)) };
  if (type === "zTXt") {
    const inflated = await inflate(data.subarray(keyEnd + 2));
    return inflated ? { key, value: latin1(inflated) } : null;
  }
  // iTXt: keyword, compressed flag, method, language tag\0, translated keyword\0, UTF-8 text.
  const compressed = data[keyEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keyEnd + 3);
  const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) return null;
  const body = data.subarray(translatedEnd + 1);
  const text = compressed ? await inflate(body) : body;
  return text ? { key, value: new TextDecoder().decode(text) } : null;
}

function jpegTexts(bytes: Uint8Array): string[] {
  const texts: string[] = [];
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    if (marker === 0xda || marker === 0xd9) break; // the pixels start: no settings after this
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const data = bytes.subarray(at + 4, at + 2 + length);
    if (marker === 0xe1 && ascii(data, 0, 6) === "Exif\0\0") {
      const comment = userComment(data.subarray(6));
      if (comment) texts.push(comment);
    } else if (marker === 0xfe) {
      texts.push(new TextDecoder().decode(data));
    }
    at += 2 + length;
  }
  return texts;
}

function webpTexts(bytes: Uint8Array): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const texts: string[] = [];
  let at = 12;
  while (at + 8 <= bytes.length) {
    const type = ascii(bytes, at, 4);
    const length = view.getUint32(at + 4, true);
    if (type === "EXIF") {
      let tiff = bytes.subarray(at + 8, at + 8 + length);
      if (ascii(tiff, 0, 6) === "Exif\0\0") tiff = tiff.subarray(6);
      const comment = userComment(tiff);
      if (comment) texts.push(comment);
    }
    at += 8 + length + (length % 2);
  }
  return texts;
}

/** The EXIF UserComment (0x9286 in the Exif IFD) of a TIFF-structured EXIF block, decoded by its charset prefix. */
export function userComment(tiff: Uint8Array): string | null {
  if (tiff.length < 8) return null;
  const little = ascii(tiff, 0, 2) === "II";
  if (!little && ascii(tiff, 0, 2) !== "MM") return null;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const u16 = (at: number) => view.getUint16(at, little);
  const u32 = (at: number) => view.getUint32(at, little);
  const entry = (ifd: number, tag: number): { count: number; value: number } | null => {
    if (ifd + 2 > tiff.length) return null;
    const count = u16(ifd);
    for (let i = 0; i < count; i++) {
      const at = ifd + 2 + i * 12;
      if (at + 12 > tiff.length) return null;
      if (u16(at) === tag) return { count: u32(at + 4), value: at + 8 };
    }
    return null;
  };
  const exifPointer = entry(u32(4), 0x8769);
  if (!exifPointer) return null;
  const comment = entry(u32(exifPointer.value), 0x9286);
  if (!comment || comment.count < 8) return null;
  const start = comment.count > 4 ? u32(comment.value) : comment.value;
  const raw = tiff.subarray(start, start + comment.count);
  if (raw.length < comment.count) return null;
  const charset = ascii(raw, 0, 8);
  const body = raw.subarray(8);
  if (charset.startsWith("UNICODE")) return decodeUtf16(body, little);
  return new TextDecoder().decode(body).replace(/\0+$/, "");
}

/** UTF-16 as A1111 (big-endian, piexif) and others (the EXIF block's own order) write it: the order whose
 * text has its zero bytes where ASCII characters put them. */
function decodeUtf16(body: Uint8Array, little: boolean): string {
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i + 1 < Math.min(body.length, 200); i += 2) {
    if (body[i] === 0) evenZeros++;
    if (body[i + 1] === 0) oddZeros++;
  }
  const bigEndian = evenZeros !== oddZeros ? evenZeros > oddZeros : !little;
  return new TextDecoder(bigEndian ? "utf-16be" : "utf-16le").decode(body).replace(/\0+$/, "");
}

async function inflate(data: Uint8Array): Promise<Uint8Array | null> {
  if (typeof DecompressionStream !== "function") return null;
  try {
    const stream = new Blob([new Uint8Array(data)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

function latin1(bytes: Uint8Array): string {
  return new TextDecoder("latin1").decode(bytes);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function wholeNumber(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) ? value : undefined;
}

/** One line saying what a file's settings are, for the offer to use them. */
export function settingsSummary(settings: EmbeddedSettings): string {
  const parts = [`"${settings.prompt.length > 60 ? `${settings.prompt.slice(0, 57)}…` : settings.prompt}"`];
  if (settings.seed !== undefined) parts.push(`seed ${settings.seed}`);
  if (settings.steps !== undefined) parts.push(`${settings.steps} steps`);
  if (settings.guidance !== undefined) parts.push(`guidance ${settings.guidance}`);
  if (settings.loras?.length) parts.push(`LoRA${settings.loras.length > 1 ? "s" : ""} ${settings.loras.map((l) => l.name).join(", ")}`);
  if (settings.width && settings.height) parts.push(`${settings.width}×${settings.height}`);
  if (settings.model) parts.push(settings.model);
  return parts.join(" · ");
}

/** The form fields a file's settings fill in, within this server's limits, and what could not be used (said
 * beside the button). The model is not switched (a server runs one): a different one is said. */
export function settingsToForm(settings: EmbeddedSettings, limits: Limits): { values: Partial<FormValues>; notes: string[] } {
  const values: Partial<FormValues> = { prompt: settings.prompt.slice(0, limits.max_prompt_chars) };
  const notes: string[] = [];
  if (settings.negativePrompt !== undefined) values.negativePrompt = settings.negativePrompt.slice(0, limits.max_negative_prompt_chars);
  if (settings.seed !== undefined) {
    if (settings.seed >= 0 && settings.seed <= limits.max_seed) values.seed = String(settings.seed);
    else notes.push(`seed ${settings.seed} is beyond this server's range`);
  }
  if (settings.lightning) {
    values.lightning = true;
    if (settings.steps !== undefined && limits.lightning_steps.includes(settings.steps)) values.fastSteps = String(settings.steps);
  } else {
    if (settings.source === "qie") values.lightning = false;
    if (settings.steps !== undefined) {
      if (settings.steps >= limits.min_steps && settings.steps <= limits.max_steps) values.steps = String(settings.steps);
      else notes.push(`${settings.steps} steps is beyond this server's ${limits.min_steps}–${limits.max_steps}`);
    }
    if (settings.guidance !== undefined) {
      if (settings.guidance >= limits.min_cfg && settings.guidance <= limits.max_cfg) values.cfg = String(settings.guidance);
      else notes.push(`guidance ${settings.guidance} is beyond this model's ${limits.min_cfg}–${limits.max_cfg}`);
    }
  }
  if (settings.loras) values.loras = settings.loras.slice(0, limits.max_loras).map(({ name, weight }) => ({ name, weight: String(weight) }));
  if (settings.width && settings.height) {
    const { width, height } = settings;
    const shape = ASPECT_RATIOS.find(({ ratio }) => {
      // SD sizes are multiples of 64, near a shape rather than on it (1344x768 for 16:9).
      const [w = 1, h = 1] = ratio.split(":").map(Number);
      return Math.abs((width * h) / (height * w) - 1) < 0.03;
    });
    if (shape && Math.max(width, height) <= limits.max_output_side) {
      values.outputSize = "ratio";
      values.aspectRatio = shape.ratio;
      values.outputLong = String(Math.max(width, height));
    } else {
      notes.push(`size ${width}×${height} is not one of the shapes offered`);
    }
  }
  if (settings.model && !settings.model.toLowerCase().includes(limits.model_name.toLowerCase()))
    notes.push(`made with ${settings.model}; this server runs ${limits.model_name}`);
  return { values, notes };
}
