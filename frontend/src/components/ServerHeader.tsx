import { useEffect, useRef } from "react";
import type { Health } from "../api/types";
import { Button } from "./ui";

/** Keeps `--header-height` on the page at the sticky header's height (it wraps on phones and grows with its
 * banners), so what sticks under it (the queue strip) sits just below it. */
function usePublishHeight(ref: React.RefObject<HTMLElement | null>) {
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const root = document.documentElement;
    const observer = new ResizeObserver(() => root.style.setProperty("--header-height", `${element.offsetHeight}px`));
    observer.observe(element);
    return () => {
      observer.disconnect();
      root.style.removeProperty("--header-height");
    };
  }, [ref]);
}

const stateStyle: Record<Health["model_state"], string> = {
  not_loaded: "bg-zinc-400",
  loading: "bg-amber-500 animate-pulse",
  ready: "bg-emerald-500",
  failed: "bg-red-500",
};

const stateText: Record<Health["model_state"], string> = {
  not_loaded: "not loaded (loads on first edit)",
  loading: "loading…",
  ready: "ready",
  failed: "failed",
};

interface Props {
  health: Health | null;
  healthError: string | null;
  /** The page cannot reach the server (health or the live socket failed): the dot goes grey. */
  offline?: boolean;
  /** Everyone's queued jobs, live from the activity socket (else the last health answer's). */
  queueLength?: number | null;
  /** Signed in as: shown with a Sign out button. Null in open mode and on the sign-in panel. */
  account?: { name: string; admin: boolean } | null;
  onSignOut?: () => void;
  signingOut?: boolean;
  signOutError?: string | null;
}

export function ServerHeader(props: Props) {
  const { health, healthError, account = null, onSignOut, signingOut = false, signOutError = null } = props;
  const offline = props.offline ?? healthError !== null;
  const queued = props.queueLength ?? health?.queue_length ?? 0;
  // Nothing runs the jobs: neither a worker in this process nor one elsewhere (then health says why).
  const noWorker = health !== null && !health.worker_alive && health.workers === 0;
  const headerRef = useRef<HTMLElement>(null);
  usePublishHeight(headerRef);
  return (
    <header ref={headerRef} className="sticky top-0 z-20 border-b border-zinc-200 bg-white/85 backdrop-blur dark:border-zinc-800 dark:bg-zinc-950/85">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-x-4 gap-y-1 px-4 py-3">
        <h1 className="text-lg font-semibold tracking-tight">
          Qwen <span className="text-indigo-600 dark:text-indigo-400">Image Editor</span>
        </h1>
        <div
          data-testid="model-status"
          role="status"
          aria-live="polite"
          className="flex min-w-0 flex-wrap items-center gap-x-3 gap-y-1 text-xs text-zinc-600 dark:text-zinc-400"
        >
          {healthError && !health ? (
            <span className="flex items-center gap-1.5 text-red-700 dark:text-red-400">
              <span className="size-2 rounded-full bg-red-500" aria-hidden /> Server offline: {healthError}
            </span>
          ) : health ? (
            <>
              <span className="flex items-center gap-1.5" data-model-state={offline ? "unknown" : health.model_state}>
                <span className={`size-2 rounded-full ${offline ? "bg-zinc-400" : stateStyle[health.model_state]}`} aria-hidden />
                <span className="max-w-[16rem] truncate font-medium text-zinc-800 dark:text-zinc-200" title={health.model}>
                  {health.model}
                </span>
                <span>{offline ? "status unknown" : noWorker ? "no worker running" : stateText[health.model_state]}</span>
              </span>
              {/* An API node runs no model: it reports the GPU workers behind it. */}
              {!noWorker && (
                <span title="Device" data-testid="device">
                  {health.workers > 0 ? `${health.workers} GPU worker${health.workers === 1 ? "" : "s"} · ${health.device}` : health.device}
                </span>
              )}
              <span data-testid="queue-length">{queued} in queue</span>
              {offline && <span className="text-red-700 dark:text-red-400">(connection lost)</span>}
            </>
          ) : (
            <span>Connecting…</span>
          )}
        </div>
        {account && (
          <div className="flex min-w-0 items-center gap-2 text-sm">
            <span className="min-w-0 truncate text-zinc-600 dark:text-zinc-400">
              Signed in as{" "}
              <span data-testid="session-name" className="font-medium text-zinc-900 dark:text-zinc-100">
                {account.name}
              </span>
              {account.admin && <span className="ml-1 text-xs text-indigo-600 dark:text-indigo-400">(admin)</span>}
            </span>
            <Button data-testid="sign-out" className="shrink-0 px-2.5 py-1" onClick={onSignOut} disabled={signingOut}>
              {signingOut ? "Signing out…" : "Sign out"}
            </Button>
          </div>
        )}
      </div>
      {offline && (
        <p
          data-testid="offline-banner"
          role="alert"
          className="border-t border-amber-200 bg-amber-50 px-4 py-2 text-center text-sm font-medium text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-200"
        >
          Cannot reach the server. Retrying… Nothing on this page is lost; jobs resume when it is back.
        </p>
      )}
      {signOutError && (
        <p role="alert" className="border-t border-red-200 bg-red-50 px-4 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
          {signOutError}
        </p>
      )}
      {health?.warning && (
        <p
          data-testid="server-warning"
          role="alert"
          className="border-t border-red-200 bg-red-50 px-4 py-2 text-center text-sm font-medium text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200"
        >
          Warning: {health.warning}
        </p>
      )}
      {health?.model_state === "failed" && health.model_error && (
        <p role="alert" className="border-t border-red-200 bg-red-50 px-4 py-2 text-sm text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200">
          Model failed to load: {health.model_error}
        </p>
      )}
      {health?.demo && (
        <p
          data-testid="demo-banner"
          role="note"
          className="border-t border-amber-200 bg-amber-50 px-4 py-2 text-center text-sm font-medium text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-200"
        >
          Demo model with random weights: outputs are noise
        </p>
      )}
    </header>
  );
}
