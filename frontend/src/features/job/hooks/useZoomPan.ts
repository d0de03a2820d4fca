/**
 * Zoom and pan of one picture in a viewport element: the wheel (and a trackpad's pinch, which browsers send
 * as a wheel with Ctrl) zooms around the pointer, a drag pans, two fingers pinch and pan, a double-click
 * goes between "fit" and 100 %. The view fits until the user zooms, and keeps fitting when the viewport
 * resizes (full screen, a rotated phone).
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import { actualScale, actualView, clampView, fitView, snapView, zoomAround, type Size, type View } from "../lib/zoom";

/** How much one wheel "line" (or 16 pixels of a smooth wheel) zooms. */
const WHEEL_ZOOM_PER_PIXEL = 0.002;
const LINE_PIXELS = 16;
/** A pointer that moves less than this between down and up was a click, not a drag. */
export const CLICK_SLOP_PX = 4;

type Mode = { kind: "fit" } | { kind: "free"; view: View };

const devicePixelRatio = () => (typeof window === "undefined" ? 1 : window.devicePixelRatio || 1);

function useElementSize(element: HTMLElement | null): Size {
  const [size, setSize] = useState<Size>({ width: 0, height: 0 });
  useEffect(() => {
    if (!element) return;
    const measure = () => setSize({ width: element.clientWidth, height: element.clientHeight });
    measure();
    if (typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [element]);
  return size;
}

export interface ZoomPan {
  /** Where the picture is drawn now. */
  view: View;
  /** The view fits the picture (and follows the viewport's size). */
  fitted: boolean;
  /** At 100 %: one image pixel per screen pixel. */
  actual: boolean;
  dpr: number;
  setViewport: (element: HTMLElement | null) => void;
  fit: () => void;
  toActual: () => void;
  /** Zoom by `factor` around a viewport point (the centre when none). */
  zoomBy: (factor: number, at?: { x: number; y: number }) => void;
  panBy: (dx: number, dy: number) => void;
  /** Spread on the viewport element. */
  handlers: {
    onPointerDown: (event: ReactPointerEvent<HTMLElement>) => void;
    onPointerMove: (event: ReactPointerEvent<HTMLElement>) => void;
    onPointerUp: (event: ReactPointerEvent<HTMLElement>) => void;
    onPointerCancel: (event: ReactPointerEvent<HTMLElement>) => void;
    onDoubleClick: (event: React.MouseEvent<HTMLElement>) => void;
  };
}

/** `image`: the picture's size in pixels (null until it has loaded). */
export function useZoomPan(image: Size | null): ZoomPan {
  const [element, setElement] = useState<HTMLElement | null>(null);
  const viewport = useElementSize(element);
  const [mode, setMode] = useState<Mode>({ kind: "fit" });
  const dpr = devicePixelRatio();
  const picture = image ?? { width: 0, height: 0 };
  const view = mode.kind === "fit" ? fitView(picture, viewport) : clampView(mode.view, picture, viewport, dpr);

  // The handlers below read the latest view without being made again on every frame of a drag.
  const latest = useRef({ view, picture, viewport, dpr });
  useLayoutEffect(() => {
    latest.current = { view, picture, viewport, dpr };
  });

  const setView = useCallback((next: (current: typeof latest.current) => View) => {
    const current = latest.current;
    const view = clampView(next(current), current.picture, current.viewport, current.dpr);
    setMode({ kind: "free", view: snapView(view, current.dpr) });
  }, []);

  const fit = useCallback(() => setMode({ kind: "fit" }), []);
  const toActual = useCallback(() => {
    const { view: v, picture: p, viewport: vp, dpr: d } = latest.current;
    setMode({ kind: "free", view: actualView(v, p, vp, d) });
  }, []);
  const zoomBy = useCallback(
    (factor: number, at?: { x: number; y: number }) =>
      setView(({ view: v, viewport: vp }) => zoomAround(v, v.scale * factor, at?.x ?? vp.width / 2, at?.y ?? vp.height / 2)),
    [setView],
  );
  const panBy = useCallback((dx: number, dy: number) => setView(({ view: v }) => ({ ...v, x: v.x + dx, y: v.y + dy })), [setView]);

  // The wheel needs a listener that is not passive, to keep the page from scrolling while it zooms.
  useEffect(() => {
    if (!element) return;
    const onWheel = (event: WheelEvent) => {
      event.preventDefault();
      const pixels = event.deltaY * (event.deltaMode === 1 ? LINE_PIXELS : 1);
      const box = element.getBoundingClientRect();
      zoomBy(Math.exp(-pixels * WHEEL_ZOOM_PER_PIXEL), { x: event.clientX - box.left, y: event.clientY - box.top });
    };
    element.addEventListener("wheel", onWheel, { passive: false });
    return () => element.removeEventListener("wheel", onWheel);
  }, [element, zoomBy]);

  // Pointers down on the viewport: one pans, two pinch (the change of their distance zooms around their middle).
  const pointers = useRef(new Map<number, { x: number; y: number }>());
  const local = (event: { clientX: number; clientY: number }) => {
    const box = element?.getBoundingClientRect();
    return { x: event.clientX - (box?.left ?? 0), y: event.clientY - (box?.top ?? 0) };
  };

  const onPointerDown = (event: ReactPointerEvent<HTMLElement>) => {
    if (event.button !== 0 && event.pointerType === "mouse") return;
    event.currentTarget.setPointerCapture?.(event.pointerId);
    pointers.current.set(event.pointerId, local(event));
  };
  const onPointerMove = (event: ReactPointerEvent<HTMLElement>) => {
    const before = pointers.current.get(event.pointerId);
    if (!before) return;
    const now = local(event);
    const others = [...pointers.current].filter(([id]) => id !== event.pointerId).map(([, p]) => p);
    pointers.current.set(event.pointerId, now);
    const other = others[0];
    if (!other) {
      panBy(now.x - before.x, now.y - before.y);
      return;
    }
    const spread = (a: { x: number; y: number }) => Math.hypot(a.x - other.x, a.y - other.y);
    const ratio = spread(before) > 0 ? spread(now) / spread(before) : 1;
    const mid = { x: (now.x + other.x) / 2, y: (now.y + other.y) / 2 };
    const midBefore = { x: (before.x + other.x) / 2, y: (before.y + other.y) / 2 };
    setView(({ view: v }) => {
      // The image point between the fingers stays between them: zoomed around where they were, then moved along.
      const zoomed = zoomAround(v, v.scale * ratio, midBefore.x, midBefore.y);
      return { ...zoomed, x: zoomed.x + mid.x - midBefore.x, y: zoomed.y + mid.y - midBefore.y };
    });
  };
  const onPointerEnd = (event: ReactPointerEvent<HTMLElement>) => {
    pointers.current.delete(event.pointerId);
  };
  const onDoubleClick = (event: React.MouseEvent<HTMLElement>) => {
    const { view: v, dpr: d } = latest.current;
    if (Math.abs(v.scale - actualScale(d)) < 1e-6) fit();
    else setView(() => zoomAround(v, actualScale(d), local(event).x, local(event).y));
  };

  return {
    view,
    fitted: mode.kind === "fit",
    actual: Math.abs(view.scale - actualScale(dpr)) < 1e-6,
    dpr,
    setViewport: setElement,
    fit,
    toActual,
    zoomBy,
    panBy,
    handlers: { onPointerDown, onPointerMove, onPointerUp: onPointerEnd, onPointerCancel: onPointerEnd, onDoubleClick },
  };
}
