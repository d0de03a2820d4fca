/** Full screen for one element (the Fullscreen API), and whether it is in full screen now. */
import { useCallback, useEffect, useState } from "react";

export function useFullscreen(element: HTMLElement | null) {
  const [active, setActive] = useState(false);
  useEffect(() => {
    const onChange = () => setActive(!!element && document.fullscreenElement === element);
    document.addEventListener("fullscreenchange", onChange);
    return () => document.removeEventListener("fullscreenchange", onChange);
  }, [element]);

  const supported = typeof document !== "undefined" && !!document.fullscreenEnabled;
  const toggle = useCallback(() => {
    if (!element) return;
    // A refusal (an iframe without allowfullscreen, a phone's browser) leaves the viewer as it was.
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
    else void element.requestFullscreen?.().catch(() => {});
  }, [element]);
  return { active, supported, toggle };
}
