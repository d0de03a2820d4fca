/**
 * The region painted on image 1 (issue 20): where the edit may change it. Kept at image 1's natural size and
 * tied to image 1: when another picture takes image 1's place (Edit this result, a removal), a region of the
 * same size stays and one of another size is cleared, and the hook says which.
 */
import { useCallback, useRef, useState } from "react";
import { encodeMaskPng, type DecodedMask } from "../lib/maskPng";
import { RegionMask } from "../lib/regionMask";

export type RegionToolKind = "brush" | "eraser";

/** What the region needs to know about image 1. */
export interface RegionImage {
  id: string;
  width: number;
  height: number;
}

/** Brush diameters, in screen pixels over the picture: `[` and `]` step through them. */
export const BRUSH_SIZES = [4, 8, 12, 16, 24, 32, 48, 64, 96, 128] as const;
export const DEFAULT_BRUSH = 32;

interface State {
  mask: RegionMask | null;
  /** The image the mask belongs to (null: none yet, e.g. image 1 is being replaced). */
  boundTo: string | null;
  /** Image 1 as of the last render: a change of it is what moves the region on. */
  seenId: string | null;
  notice: string | null;
  /** Bumped after each change of the mask's pixels (painting changes it in place). */
  rev: number;
}

const size = (w: number, h: number) => `${w}×${h}`;

/** The state once `image` is image 1. */
function follow(state: State, image: RegionImage | null): State {
  const next = { ...state, seenId: image?.id ?? null };
  // No image 1 for now (being replaced, or removed): the region waits for the next one.
  if (!image || state.boundTo === image.id) return next;
  const { mask } = state;
  const fits = mask !== null && mask.width === image.width && mask.height === image.height;
  if (fits && !mask.empty) {
    const moved = state.boundTo !== null;
    return { ...next, boundTo: image.id, notice: moved ? "The region was kept: the new image 1 has the same size." : state.notice };
  }
  const notice =
    mask && !mask.empty
      ? `The region was cleared: the new image 1 is ${size(image.width, image.height)}, the region was drawn on ${size(mask.width, mask.height)}.`
      : null;
  return { ...next, mask: new RegionMask(image.width, image.height), boundTo: image.id, notice, rev: state.rev + 1 };
}

export function useRegion(image: RegionImage | null) {
  const [state, setState] = useState<State>({ mask: null, boundTo: null, seenId: null, notice: null, rev: 0 });
  const [tool, setTool] = useState<RegionToolKind>("brush");
  const [brush, setBrush] = useState<number>(DEFAULT_BRUSH);

  // Image 1 changed: the region follows it now, in this render (React's "adjust state on a prop change").
  const imageId = image?.id ?? null;
  let current = state;
  if (imageId !== state.seenId) {
    current = follow(state, image);
    setState(current);
  }

  const mask = image && current.boundTo === image.id ? current.mask : null;
  const rev = current.rev;
  // The PNG of the region as it is: made once per change (the draft asks for it after every change of the form).
  const png = useRef<{ mask: RegionMask; rev: number; blob: Promise<Blob> } | null>(null);

  const touch = useCallback(() => setState((prev) => ({ ...prev, rev: prev.rev + 1 })), []);

  /** A stroke segment in image pixels; `radius` in image pixels. The tool picks paint or erase. */
  const paint = useCallback(
    (from: { x: number; y: number }, to: { x: number; y: number }, radius: number) => {
      if (!mask) return;
      mask.stroke(from, to, radius, tool === "eraser" ? 0 : 1);
      touch();
    },
    [mask, tool, touch],
  );

  const invert = useCallback(() => {
    if (!mask) return;
    mask.invert();
    touch();
  }, [mask, touch]);

  const clear = useCallback(() => {
    if (!mask) return;
    mask.clear();
    setState((prev) => ({ ...prev, notice: null, rev: prev.rev + 1 }));
  }, [mask]);

  /** One brush size up (+1) or down (-1). */
  const stepBrush = useCallback((delta: number) => {
    setBrush((prev) => {
      const at = BRUSH_SIZES.findIndex((s) => s >= prev);
      const index = Math.max(0, Math.min(BRUSH_SIZES.length - 1, (at < 0 ? BRUSH_SIZES.length - 1 : at) + delta));
      return BRUSH_SIZES[index]!;
    });
  }, []);

  /**
   * A region from elsewhere (a reused job's mask, the saved draft) for `forImage`, the image 1 it goes with;
   * `region` null clears it. One that does not fit image 1's size is cleared, with a notice.
   */
  const load = useCallback((region: DecodedMask | null, forImage: RegionImage | null) => {
    setState((prev) => {
      const rev = prev.rev + 1;
      if (!forImage) return { ...prev, mask: null, boundTo: null, notice: null, rev };
      const blank = new RegionMask(forImage.width, forImage.height);
      if (!region) return { ...prev, mask: blank, boundTo: forImage.id, notice: null, rev };
      if (region.width !== forImage.width || region.height !== forImage.height) {
        const notice = `The region (${size(region.width, region.height)}) did not fit image 1 (${size(forImage.width, forImage.height)}) and was cleared.`;
        return { ...prev, mask: blank, boundTo: forImage.id, notice, rev };
      }
      return { ...prev, mask: new RegionMask(region.width, region.height, region.data.slice()), boundTo: forImage.id, notice: null, rev };
    });
  }, []);

  const dismissNotice = useCallback(() => setState((prev) => ({ ...prev, notice: null })), []);

  /** The region to send (white on black, image 1's size), or null: none painted, or all of it (the whole image). */
  const toPng = useCallback((): Promise<Blob | null> => {
    if (!mask || mask.empty || mask.full) return Promise.resolve(null);
    const made = png.current;
    if (made && made.mask === mask && made.rev === rev) return made.blob;
    const blob = encodeMaskPng(mask.data, mask.width, mask.height);
    png.current = { mask, rev, blob };
    return blob;
  }, [mask, rev]);

  return {
    mask,
    rev,
    notice: current.notice,
    tool,
    setTool,
    brush,
    setBrush,
    stepBrush,
    paint,
    invert,
    clear,
    load,
    dismissNotice,
    toPng,
  };
}

export type Region = ReturnType<typeof useRegion>;
