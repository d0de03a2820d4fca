import { useEffect, useState } from "react";

/** The time, refreshed every `everyMs`, so "3 min ago" labels move on without reading the clock in render. */
export function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}
