/** Labels for times: "3 min ago", "kept until ...". */
import type { Job } from "../api/types";

export function timeAgo(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** "Kept until 3 May, 14:00" when the retention will delete it; null when it is kept until deleted. */
export function keptLabel(job: Pick<Job, "kept_until" | "starred">): string | null {
  if (job.starred || !job.kept_until) return null;
  const t = Date.parse(job.kept_until);
  if (Number.isNaN(t)) return null;
  const when = new Date(t).toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return `Kept until ${when} (star it to keep it)`;
}
