/**
 * Brings the result area into view after the page shows a job (a submit, a job opened from the queue strip):
 * on a phone it sits below the whole form. The scroll waits for the render that shows the job, and is skipped
 * when the area's top is already on screen (beside the form, on a desktop).
 */
import { useCallback, useEffect, useState, type RefObject } from "react";

/** The area's top is on screen, in its upper part (there is room below it to see the result begin). */
export function topInView(element: Element, viewportHeight: number): boolean {
  const top = element.getBoundingClientRect().top;
  return top >= 0 && top <= viewportHeight * 0.6;
}

export function useRevealResult(ref: RefObject<HTMLElement | null>) {
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!asked || !element || topInView(element, window.innerHeight)) return;
    const smooth = !window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
    element.scrollIntoView?.({ behavior: smooth ? "smooth" : "auto", block: "start" });
  }, [asked, ref]);
  return useCallback(() => setAsked((n) => n + 1), []);
}
