import { useId, useState } from "react";

/**
 * The edge of a region mask (white = region) drawn over a picture of its size: an SVG over the same box,
 * fitted like the picture's object-contain, whose filter keeps a ring just outside the white.
 */
function RegionOutline({ mask }: { mask: string }) {
  const filter = useId().replace(/:/g, "");
  return (
    <svg data-testid="region-outline" aria-hidden className="pointer-events-none absolute inset-0 size-full">
      <filter id={filter} x="0" y="0" width="100%" height="100%" colorInterpolationFilters="sRGB">
        <feColorMatrix in="SourceGraphic" type="luminanceToAlpha" result="region" />
        <feComponentTransfer in="region" result="solid">
          <feFuncA type="discrete" tableValues="0 1" />
        </feComponentTransfer>
        <feMorphology in="solid" operator="dilate" radius="2" result="grown" />
        <feComposite in="grown" in2="solid" operator="out" result="ring" />
        <feFlood floodColor="#facc15" />
        <feComposite in2="ring" operator="in" />
      </filter>
      <image href={mask} width="100%" height="100%" preserveAspectRatio="xMidYMid meet" filter={`url(#${filter})`} />
    </svg>
  );
}

/**
 * Before/after: the output underneath, the input clipped on top; a range input moves the split. `outline`:
 * a region mask URL whose edge is drawn on top (issue 20), or null.
 */
export function CompareSlider({ before, after, outline = null }: { before: string | null; after: string; outline?: string | null }) {
  const [split, setSplit] = useState(50);
  if (!before) {
    // Nothing to compare with: an image made from the instruction alone.
    return <img data-testid="result-image" src={after} alt="Result" className="checker mx-auto max-h-[70vh] w-full rounded-xl object-contain" />;
  }
  return (
    <div className="relative select-none overflow-hidden rounded-xl">
      <img data-testid="result-image" src={after} alt="Edited result" className="checker block max-h-[70vh] w-full object-contain" />
      <img
        src={before}
        alt="Original input"
        aria-hidden
        className="checker pointer-events-none absolute inset-0 h-full w-full object-contain"
        style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }}
      />
      {outline && <RegionOutline mask={outline} />}
      <div className="pointer-events-none absolute inset-y-0 w-0.5 bg-white shadow-[0_0_0_1px_rgba(0,0,0,0.3)]" style={{ left: `${split}%` }} aria-hidden>
        <div className="absolute left-1/2 top-1/2 flex size-8 -translate-x-1/2 -translate-y-1/2 items-center justify-center rounded-full bg-white text-xs text-zinc-800 shadow">
          ⇔
        </div>
      </div>
      <span className="pointer-events-none absolute left-2 top-2 rounded bg-black/60 px-2 py-0.5 text-xs text-white">Before</span>
      <span className="pointer-events-none absolute right-2 top-2 rounded bg-black/60 px-2 py-0.5 text-xs text-white">After</span>
      <input
        type="range"
        min={0}
        max={100}
        value={split}
        aria-label="Compare before and after"
        aria-valuetext={`${split}% before`}
        onChange={(e) => setSplit(Number(e.target.value))}
        className="absolute inset-0 h-full w-full cursor-ew-resize opacity-0 focus-visible:opacity-10"
      />
    </div>
  );
}
