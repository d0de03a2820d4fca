/** How many items of a fixed width fit across an element, kept current as it resizes. */
import { useEffect, useState } from "react";
import { UNMEASURED_FIT } from "../features/queue/lib/queueChips";

/** `itemPx`: one item's width plus the gap after it. Returns a callback ref for the element, and the count. */
export function useFitCount<T extends HTMLElement>(itemPx: number, fallback = UNMEASURED_FIT): [(element: T | null) => void, number] {
  // A callback ref: the element comes and goes with what it lists (the strip is absent while nothing is queued).
  const [element, setElement] = useState<T | null>(null);
  const [fit, setFit] = useState(fallback);
  useEffect(() => {
    if (!element || typeof ResizeObserver === "undefined") return;
    const measure = () => {
      const width = element.clientWidth;
      // No layout (a hidden element, a test): keep the fallback rather than show one chip.
      if (width > 0) setFit(Math.max(1, Math.floor((width + 8) / itemPx)));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, [element, itemPx]);
  return [setElement, fit];
}
