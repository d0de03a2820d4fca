/**
 * Which of a job's results is picked, whether they are shown side by side (the grid) or one at a time (the
 * viewer), and what the picked one is compared with: the input being edited, another result, or nothing.
 */
import { useCallback, useState } from "react";

/** What the viewer shows under the compare divider. */
export type CompareWith = { kind: "input" } | { kind: "result"; index: number } | { kind: "none" };

export function useVariations(count: number, hasInput: boolean) {
  const [picked, setPicked] = useState(0);
  const [grid, setGrid] = useState(false);
  const [chosen, setCompareWith] = useState<CompareWith>(hasInput ? { kind: "input" } : { kind: "none" });
  const index = Math.max(0, Math.min(picked, count - 1));

  // Comparing a result with itself shows nothing: fall back to the input (or nothing).
  const compareWith: CompareWith =
    chosen.kind === "result" && (chosen.index === index || chosen.index >= count)
      ? hasInput
        ? { kind: "input" }
        : { kind: "none" }
      : chosen.kind === "input" && !hasInput
        ? { kind: "none" }
        : chosen;

  /** The next (+1) or previous (-1) result, stopping at the ends. */
  const step = useCallback(
    (by: number) => setPicked((current) => Math.max(0, Math.min(count - 1, Math.min(current, count - 1) + by))),
    [count],
  );

  /** Picks result `i` and shows it in the viewer. */
  const open = useCallback((i: number) => {
    setPicked(i);
    setGrid(false);
  }, []);

  return { index, pick: setPicked, step, open, grid, setGrid, compareWith, setCompareWith };
}
