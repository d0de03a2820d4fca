/** The page's ways of speaking outside its panels: keyboard shortcuts, the tab's title, notifications. */
import { useCallback, useEffect, useRef, useState } from "react";
import type { Job, JobMessage } from "../api/types";
import { titlePrefix } from "../features/job/lib/jobState";

// Esc there clears or leaves the field (or closes a list or dialog): it never reaches the job.
const ESC_STAYS_IN = "input, textarea, select, [contenteditable]:not([contenteditable='false']), dialog, [role=dialog]";

/** Whether Esc pressed at `target` belongs to what has focus, not to the page's cancel. */
export function escBelongsToField(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest(ESC_STAYS_IN) !== null;
}

/** Ctrl/Cmd+Enter runs the form from anywhere on the page; Esc cancels the job on screen (`onCancel` decides
 * which), except while typing. */
export function useShortcuts(onRun: () => void, onCancel: () => void) {
  const handlers = useRef({ onRun, onCancel });
  useEffect(() => {
    handlers.current = { onRun, onCancel };
  }, [onRun, onCancel]);
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.defaultPrevented || event.isComposing) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        handlers.current.onRun();
      } else if (event.key === "Escape") {
        if (escBelongsToField(event.target)) return;
        handlers.current.onCancel();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

export const BASE_TITLE = "Qwen Image Editor";

/** "[45%] Qwen Image Editor" while the job on screen runs, "[queued] …" while it waits. */
export function usePageTitle(job: Job | null) {
  const prefix = titlePrefix(job);
  useEffect(() => {
    document.title = prefix + BASE_TITLE;
  }, [prefix]);
  useEffect(() => () => void (document.title = BASE_TITLE), []);
}

const NOTIFY_KEY = "qie.notify";

const supported = () => typeof Notification !== "undefined";

function readNotify(): boolean {
  try {
    return supported() && Notification.permission === "granted" && window.localStorage.getItem(NOTIFY_KEY) === "1";
  } catch {
    return false;
  }
}

/**
 * An optional browser notification when one of this user's jobs finishes while the tab is in the
 * background. `notify` goes to the activity socket's job messages.
 */
export function useFinishNotifications() {
  const [enabled, setEnabled] = useState(readNotify);

  const toggle = useCallback(async (on: boolean) => {
    if (!supported()) return;
    if (on && Notification.permission !== "granted") {
      const answer = await Notification.requestPermission();
      if (answer !== "granted") on = false;
    }
    try {
      window.localStorage.setItem(NOTIFY_KEY, on ? "1" : "0");
    } catch {
      // private mode: for this visit only
    }
    setEnabled(on);
  }, []);

  const notify = useCallback(
    (message: JobMessage) => {
      if (!enabled || !document.hidden || !["complete", "error"].includes(message.type)) return;
      const done = message.type === "complete";
      const note = new Notification(done ? "Edit finished" : "Edit failed", {
        body: message.config.prompt,
        icon: message.thumbnail ?? undefined,
        tag: message.job_id,
      });
      note.onclick = () => window.focus();
    },
    [enabled],
  );

  return { supported: supported(), enabled, toggle, notify };
}
