/**
 * The geometry of the result viewer: where a picture of `image` pixels is drawn in a viewport of `viewport`
 * CSS pixels. `scale` is CSS pixels per image pixel; `x`, `y` are the picture's top-left corner in the viewport.
 */

export interface Size {
  width: number;
  height: number;
}

export interface View {
  scale: number;
  x: number;
  y: number;
}

/** The most the viewer magnifies: 16 screen pixels per image pixel, enough to see single pixels. */
export const MAX_DEVICE_ZOOM = 16;

const valid = (size: Size) => size.width > 0 && size.height > 0;

/** The whole picture, as large as fits, centred. */
export function fitView(image: Size, viewport: Size): View {
  if (!valid(image) || !valid(viewport)) return { scale: 1, x: 0, y: 0 };
  const scale = Math.min(viewport.width / image.width, viewport.height / image.height);
  return { scale, x: (viewport.width - image.width * scale) / 2, y: (viewport.height - image.height * scale) / 2 };
}

/** The scale that draws one image pixel on one screen pixel (CSS pixels are `dpr` screen pixels wide). */
export const actualScale = (dpr: number) => 1 / (dpr > 0 ? dpr : 1);

/** The smallest and largest scales: down to half of what fits (or of 100 %), up to MAX_DEVICE_ZOOM. */
export function scaleBounds(image: Size, viewport: Size, dpr: number): [number, number] {
  const fit = fitView(image, viewport).scale;
  return [Math.min(fit, actualScale(dpr)) / 2, Math.max(fit, MAX_DEVICE_ZOOM * actualScale(dpr))];
}

/** `view` zoomed to `scale`, keeping the image point under (`px`, `py`) where it is on screen. */
export function zoomAround(view: View, scale: number, px: number, py: number): View {
  const ratio = scale / view.scale;
  return { scale, x: px - (px - view.x) * ratio, y: py - (py - view.y) * ratio };
}

/**
 * `view` kept sensible: the scale within bounds, a picture smaller than the viewport centred along that
 * axis, a larger one never pulled in from an edge (no empty band beside it).
 */
export function clampView(view: View, image: Size, viewport: Size, dpr: number): View {
  const [low, high] = scaleBounds(image, viewport, dpr);
  const scale = Math.min(high, Math.max(low, view.scale));
  const zoomed = scale === view.scale ? view : zoomAround(view, scale, viewport.width / 2, viewport.height / 2);
  const axis = (offset: number, drawn: number, room: number) =>
    drawn <= room ? (room - drawn) / 2 : Math.min(0, Math.max(room - drawn, offset));
  return {
    scale,
    x: axis(zoomed.x, image.width * scale, viewport.width),
    y: axis(zoomed.y, image.height * scale, viewport.height),
  };
}

/**
 * The picture at 100 % (one image pixel per screen pixel), the image point at the viewport's centre kept
 * there; the offsets are whole screen pixels so the pixels are not resampled.
 */
export function actualView(view: View, image: Size, viewport: Size, dpr: number): View {
  const scale = actualScale(dpr);
  const zoomed = clampView(zoomAround(view, scale, viewport.width / 2, viewport.height / 2), image, viewport, dpr);
  return snapView(zoomed, dpr);
}

/** At 100 %, the offsets rounded to whole screen pixels, so that the pixels are drawn as they are. */
export function snapView(view: View, dpr: number): View {
  if (Math.abs(view.scale - actualScale(dpr)) > 1e-9) return view;
  const snap = (v: number) => Math.round(v * dpr) / dpr;
  return { scale: view.scale, x: snap(view.x), y: snap(view.y) };
}

/** "100 %", "37 %": the zoom as a share of 100 % (one image pixel per screen pixel). */
export const zoomPercent = (view: View, dpr: number) => `${Math.round((view.scale / actualScale(dpr)) * 100)} %`;
