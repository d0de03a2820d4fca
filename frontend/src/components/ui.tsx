/** Small shared pieces: buttons and a status badge, so every control looks and focuses alike. */
import type { ButtonHTMLAttributes, ReactNode } from "react";
import type { JobStatus } from "../api/types";

const base =
  "inline-flex items-center justify-center gap-2 rounded-lg text-sm font-medium transition " +
  "focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 " +
  "disabled:cursor-not-allowed disabled:opacity-50";

const variants = {
  primary: "bg-indigo-600 text-white hover:bg-indigo-500 disabled:hover:bg-indigo-600",
  secondary:
    "border border-zinc-300 bg-white text-zinc-800 hover:bg-zinc-100 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100 dark:hover:bg-zinc-800",
  danger:
    "border border-red-300 bg-white text-red-700 hover:bg-red-50 dark:border-red-900 dark:bg-zinc-900 dark:text-red-300 dark:hover:bg-red-950",
  ghost: "text-zinc-600 hover:bg-zinc-200/60 dark:text-zinc-300 dark:hover:bg-zinc-800",
};

export function Button({
  variant = "secondary",
  className = "",
  type = "button",
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: keyof typeof variants }) {
  return <button type={type} className={`${base} ${padding(className)} ${variants[variant]} ${className}`} {...props} />;
}

// Tailwind orders utilities by value, not by their place in `class`, so a caller's `px-1` could never
// beat a default `px-3`: the default padding applies only when the caller sets none of its own.
const defaultPadding = { x: "px-3", y: "py-2" };
function padding(className: string): string {
  const own = (axis: "x" | "y") => new RegExp(`(^|\\s)(p|p${axis})-`).test(className);
  return [own("x") ? "" : defaultPadding.x, own("y") ? "" : defaultPadding.y].join(" ");
}

export const linkButtonClass = `${base} ${defaultPadding.x} ${defaultPadding.y} ${variants.primary}`;

const statusColors: Record<JobStatus, string> = {
  queued: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-300",
  processing: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-300",
  complete: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-300",
  error: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-300",
  cancelled: "bg-zinc-200 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300",
};

export function StatusBadge({ status, testId }: { status: JobStatus; testId?: string }) {
  return (
    <span
      data-testid={testId}
      className={`inline-flex rounded-full px-2 py-0.5 text-xs font-medium ${statusColors[status]}`}
    >
      {status}
    </span>
  );
}

export function Card({ children, className = "" }: { children: ReactNode; className?: string }) {
  return (
    <div className={`rounded-2xl border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-800 dark:bg-zinc-900 ${className}`}>
      {children}
    </div>
  );
}

export const inputClass =
  "w-full rounded-lg border border-zinc-300 bg-white px-3 py-2 text-sm text-zinc-900 placeholder:text-zinc-400 " +
  "focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-500/30 " +
  "aria-invalid:border-red-500 dark:border-zinc-700 dark:bg-zinc-950 dark:text-zinc-100";
