import { useId } from "react";

interface Props {
  supported: boolean;
  enabled: boolean;
  toggle: (on: boolean) => Promise<void>;
}

/** Opt in to a browser notification when an edit finishes while this tab is in the background. */
export function NotifyToggle({ supported, enabled, toggle }: Props) {
  const id = useId();
  if (!supported) return null;
  return (
    <div className="flex items-center gap-2 px-1 text-sm">
      <input id={id} data-testid="notify" type="checkbox" checked={enabled} className="size-4 accent-indigo-600" onChange={(e) => void toggle(e.target.checked)} />
      <label htmlFor={id} className="text-zinc-700 dark:text-zinc-300">
        Notify me when an edit finishes in a background tab
      </label>
    </div>
  );
}
