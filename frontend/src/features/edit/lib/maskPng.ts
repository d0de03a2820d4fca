/**
 * Region masks as PNG files (issue 20): written as 8-bit greyscale, white = edit on black, at image 1's size;
 * read back from the server (its masks are greyscale PNGs) or from the saved draft. Plain code over the
 * browser's (and Node's) CompressionStream, so the same bytes come out in the page and in the unit tests.
 */

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function pipe(bytes: Uint8Array, transform: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const source = new ReadableStream<BufferSource>({
    start(controller) {
      controller.enqueue(bytes.slice());
      controller.close();
    },
  });
  const reader = source.pipeThrough(transform).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/** `mask` (one byte a pixel, non-zero = edit) as a PNG: white on black, `width` x `height`. */
export async function encodeMaskPng(mask: Uint8Array, width: number, height: number): Promise<Blob> {
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width + 1); // filter byte 0 (none), then the row
    for (let x = 0; x < width; x++) raw[row + 1 + x] = mask[y * width + x] ? 255 : 0;
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale, deflate, adaptive filters, no interlace
  const parts = [new Uint8Array(SIGNATURE), chunk("IHDR", header), chunk("IDAT", await pipe(raw, new CompressionStream("deflate"))), chunk("IEND", new Uint8Array(0))];
  return new Blob(parts.map((p) => p.slice().buffer), { type: "image/png" });
}

export interface DecodedMask {
  width: number;
  height: number;
  /** One byte a pixel: 1 = edit, 0 = keep. */
  data: Uint8Array;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * A mask PNG's region, as the server reads it: a pixel is in when it is light (>= 128), or, in a PNG with
 * transparency, when it is opaque. 8-bit, non-interlaced greyscale, grey+alpha, RGB and RGBA (what the server
 * and this page write); anything else is refused with an Error.
 */
export async function decodeMaskPng(bytes: Uint8Array): Promise<DecodedMask> {
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error("The region is not a PNG.");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  let colour = -1;
  const idat: Uint8Array[] = [];
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const depth = data[8];
      colour = data[9] ?? -1;
      if (depth !== 8 || data[12] !== 0 || !(colour in CHANNELS)) throw new Error("The region's PNG is of a kind this page cannot read.");
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
    at += 12 + length;
  }
  const channels = CHANNELS[colour];
  if (!channels || !width || !height) throw new Error("The region's PNG has no image.");
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  let offset = 0;
  for (const d of idat) {
    joined.set(d, offset);
    offset += d.length;
  }
  const raw = await pipe(joined, new DecompressionStream("deflate"));
  const stride = width * channels;
  if (raw.length < (stride + 1) * height) throw new Error("The region's PNG is cut short.");
  let previous = new Uint8Array(stride);
  let current = new Uint8Array(stride);
  const alpha = colour === 4 || colour === 6;
  const rows: Uint8Array[] = [];
  let transparent = false;
  for (let y = 0; y < height; y++) {
    const start = y * (stride + 1);
    const filter = raw[start];
    for (let i = 0; i < stride; i++) {
      const x = raw[start + 1 + i]!;
      const left = i >= channels ? current[i - channels]! : 0;
      const up = previous[i]!;
      const upLeft = i >= channels ? previous[i - channels]! : 0;
      const value = filter === 1 ? x + left : filter === 2 ? x + up : filter === 3 ? x + ((left + up) >> 1) : filter === 4 ? x + paeth(left, up, upLeft) : x;
      current[i] = value & 0xff;
    }
    if (alpha) for (let i = channels - 1; i < stride && !transparent; i += channels) transparent = current[i]! < 255;
    rows.push(current.slice());
    [previous, current] = [current, previous];
  }
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = rows[y]!;
    for (let x = 0; x < width; x++) {
      const p = x * channels;
      const value = transparent ? row[p + channels - 1]! : channels >= 3 ? (row[p]! * 299 + row[p + 1]! * 587 + row[p + 2]! * 114) / 1000 : row[p]!;
      data[y * width + x] = value >= 128 ? 1 : 0;
    }
  }
  return { width, height, data };
}

/** A Blob's bytes (jsdom's Blob has no arrayBuffer in every version: FileReader is everywhere). */
export function blobBytes(blob: Blob): Promise<Uint8Array> {
  if (typeof blob.arrayBuffer === "function") return blob.arrayBuffer().then((b) => new Uint8Array(b));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(new Uint8Array(reader.result instanceof ArrayBuffer ? reader.result : new ArrayBuffer(0)));
    reader.onerror = () => reject(reader.error ?? new Error("could not read the region"));
    reader.readAsArrayBuffer(blob);
  });
}
