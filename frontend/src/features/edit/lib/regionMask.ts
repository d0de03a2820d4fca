/**
 * The painted region of image 1 (issue 20), one byte a pixel at image 1's natural size (1 = edit here), so
 * strokes land on the same pixels whatever size the picture is shown at. Painting changes it in place; the
 * hook that owns it (useRegion) re-renders after each change.
 */
export class RegionMask {
  readonly data: Uint8Array;
  /** How many pixels are in the region. */
  painted = 0;

  constructor(
    readonly width: number,
    readonly height: number,
    data?: Uint8Array,
  ) {
    this.data = data ?? new Uint8Array(width * height);
    if (data) for (let i = 0; i < data.length; i++) if (data[i]) this.painted++;
  }

  get pixels(): number {
    return this.width * this.height;
  }

  /** The share of image 1 in the region, 0 to 1. */
  get share(): number {
    return this.pixels ? this.painted / this.pixels : 0;
  }

  get empty(): boolean {
    return this.painted === 0;
  }

  get full(): boolean {
    return this.painted === this.pixels;
  }

  /** A round brush dragged from `from` to `to` (image pixels), `radius` image pixels wide each side; `value` 1 paints, 0 erases. */
  stroke(from: { x: number; y: number }, to: { x: number; y: number }, radius: number, value: 0 | 1): void {
    const r = Math.max(0.5, radius);
    const left = Math.max(0, Math.floor(Math.min(from.x, to.x) - r));
    const right = Math.min(this.width - 1, Math.ceil(Math.max(from.x, to.x) + r));
    const top = Math.max(0, Math.floor(Math.min(from.y, to.y) - r));
    const bottom = Math.min(this.height - 1, Math.ceil(Math.max(from.y, to.y) + r));
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const length2 = dx * dx + dy * dy;
    const r2 = r * r;
    for (let y = top; y <= bottom; y++) {
      const py = y + 0.5;
      for (let x = left; x <= right; x++) {
        const px = x + 0.5;
        // Distance from the pixel's centre to the segment.
        const t = length2 ? Math.max(0, Math.min(1, ((px - from.x) * dx + (py - from.y) * dy) / length2)) : 0;
        const ex = px - (from.x + t * dx);
        const ey = py - (from.y + t * dy);
        if (ex * ex + ey * ey > r2) continue;
        const i = y * this.width + x;
        if (this.data[i] !== value) {
          this.data[i] = value;
          this.painted += value ? 1 : -1;
        }
      }
    }
  }

  invert(): void {
    for (let i = 0; i < this.data.length; i++) this.data[i] = this.data[i] ? 0 : 1;
    this.painted = this.pixels - this.painted;
  }

  clear(): void {
    this.data.fill(0);
    this.painted = 0;
  }

  copy(): RegionMask {
    return new RegionMask(this.width, this.height, this.data.slice());
  }
}

/** "Region: 3% of image 1", or what an empty or full region means. */
export function regionLabel(mask: RegionMask | null): string {
  if (!mask || mask.empty) return "No region: the whole image is edited";
  if (mask.full) return "Region: all of image 1 (the whole image is edited)";
  const percent = mask.share * 100;
  const shown = percent < 1 ? "under 1" : String(Math.round(percent) >= 100 ? 99 : Math.round(percent));
  return `Region: ${shown}% of image 1`;
}
