/**
 * One-key shortcuts for the result on screen ("1" for 100 %, arrows between variations...). They act when
 * nothing else has the keyboard: focus on the page itself or inside `root`, never while typing in a field
 * (and the arrows never on a control that uses them, such as the compare slider or a select).
 */
import { useEffect, useRef } from "react";

export type KeyMap = Partial<Record<string, () => void>>;

const ARROWS = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"]);
const NOT_TYPING = new Set(["range", "checkbox", "radio", "button", "submit", "reset", "color", "file"]);

/** Whether `target` takes this key for itself. */
export function keyBelongsTo(target: EventTarget | null, key: string): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return ARROWS.has(key) || !NOT_TYPING.has(target.type);
  return false;
}

export function useViewerKeys(root: HTMLElement | null, keys: KeyMap) {
  const latest = useRef(keys);
  useEffect(() => {
    latest.current = keys;
  });
  useEffect(() => {
    if (!root) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      const action = latest.current[event.key];
      if (!action) return;
      const target = event.target;
      const here = target === document.body || target === document.documentElement || (target instanceof Node && root.contains(target));
      if (!here || keyBelongsTo(target, event.key)) return;
      event.preventDefault();
      action();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [root]);
}
