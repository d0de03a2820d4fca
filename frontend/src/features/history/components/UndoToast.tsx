import type { Job } from "../../../api/types";
import type { PendingDelete } from "../hooks/useHistory";

interface Props {
  pending: readonly PendingDelete[];
  onUndo: (jobId: string) => void;
  /** A running job just cancelled, while its cancel can be undone. */
  cancelled?: Job | null;
  onUndoCancel?: (jobId: string) => void;
}

const toastClass =
  "flex max-w-md items-center gap-3 rounded-xl bg-zinc-900 px-4 py-2 text-sm text-white shadow-lg dark:bg-zinc-100 dark:text-zinc-900";
const undoClass =
  "shrink-0 rounded-lg px-2 py-1 font-semibold text-indigo-300 hover:bg-white/10 focus-visible:outline-2 focus-visible:outline-indigo-400 dark:text-indigo-700 dark:hover:bg-black/10";

/** "Deleted … Undo" for each delete that has not gone to the server yet, and "Cancelled … Undo" after a running
 * job's cancel. */
export function UndoToast({ pending, onUndo, cancelled = null, onUndoCancel }: Props) {
  if (pending.length === 0 && !cancelled) return null;
  return (
    <div className="fixed inset-x-0 bottom-4 z-30 flex flex-col items-center gap-2 px-4" role="status" aria-live="polite">
      {cancelled && onUndoCancel && (
        <div data-testid="undo-cancel-toast" className={toastClass}>
          <span className="min-w-0 truncate">Cancelled “{cancelled.config.prompt}”</span>
          <button type="button" data-testid="undo-cancel" className={undoClass} onClick={() => onUndoCancel(cancelled.job_id)}>
            Undo
          </button>
        </div>
      )}
      {pending.map(({ job }) => (
        <div key={job.job_id} data-testid="undo-toast" className={toastClass}>
          <span className="min-w-0 truncate">Deleted “{job.config.prompt}”</span>
          <button type="button" data-testid="undo-delete" className={undoClass} onClick={() => onUndo(job.job_id)}>
            Undo
          </button>
        </div>
      ))}
    </div>
  );
}
