/** Submit and cancel, as mutations whose answers go straight into the query cache. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { errorMessage, UNREACHABLE } from "../../../api/client";
import { cancelJob, cancelQueued, submitEdit, undoCancel } from "../../../api/jobs";
import type { EditRequest, Job } from "../../../api/types";
import { jobOfAnswer } from "../lib/jobState";
import { writeJob } from "../../../api/queries";

/** "Cannot reach the server" from before the server last answered is stale: it is back. */
function current(error: unknown, failedAt: number, onlineAt: number): string | null {
  if (!error) return null;
  const message = errorMessage(error);
  return message === UNREACHABLE && onlineAt > failedAt ? null : message;
}

interface Submission {
  files: readonly File[];
  config: EditRequest;
  minImages: number;
  mask?: () => Promise<Blob | null>;
}

/** How long "Cancelled … Undo" shows after a running job's cancel (the server allows the undo for a minute). */
export const UNDO_CANCEL_MS = 8_000;

/** `onlineAt`: when the server last answered (ms since the epoch), 0 if unknown. */
export function useJobActions(jobId: string | null, onSubmitted: (jobId: string) => void, onlineAt = 0) {
  const client = useQueryClient();

  const submit = useMutation({
    mutationFn: async ({ files, config, minImages, mask }: Submission) => submitEdit(files, config, minImages, mask ? await mask() : null),
    onSuccess: (response) => {
      // The answer is the whole queued job: it goes into the history (and its own view) as it is, with no
      // read of the list. From then on the socket messages keep it current.
      writeJob(client, jobOfAnswer(response));
      onSubmitted(response.job_id);
    },
  });

  // The last running job cancelled here, while its Undo is offered: a slip of Esc costs nothing.
  const [undoable, setUndoable] = useState<Job | null>(null);
  useEffect(() => {
    if (!undoable) return;
    const timer = setTimeout(() => setUndoable(null), UNDO_CANCEL_MS);
    return () => clearTimeout(timer);
  }, [undoable]);

  const cancel = useMutation({
    mutationFn: cancelJob,
    onSuccess: (job) => {
      writeJob(client, job);
      // A queued job is cancelled at once; a running one answers still running, stopping at its next step.
      if (job.status === "processing") setUndoable(job);
    },
  });

  const undo = useMutation({
    mutationFn: undoCancel,
    onSuccess: (job) => {
      writeJob(client, job);
      setUndoable(null);
    },
  });

  const cancelAll = useMutation({ mutationFn: cancelQueued });

  return {
    /** `minImages`: the model's `min_images` (0: it can make an image from the instruction alone). */
    /** `mask`: the region painted on image 1, as a PNG (made once the submit starts), or none. */
    submit: (files: readonly File[], config: EditRequest, minImages = 1, mask?: () => Promise<Blob | null>) =>
      submit.mutateAsync({ files, config, minImages, mask }),
    submitting: submit.isPending,
    submitError: current(submit.error, submit.submittedAt, onlineAt),
    cancel: (id: string | null = jobId) => {
      if (id) cancel.mutate(id);
    },
    cancellingId: cancel.isPending ? (cancel.variables ?? null) : null,
    // Only for the job on screen: a failed cancel of the previous job is no news about this one.
    cancelling: cancel.isPending && cancel.variables === jobId,
    cancelError: cancel.variables === jobId ? current(cancel.error, cancel.submittedAt, onlineAt) : null,
    /** The running job just cancelled, while its cancel can be undone (requeued first, with its seed). */
    undoable,
    undoCancel: (id: string) => undo.mutate(id),
    undoError: current(undo.error, undo.submittedAt, onlineAt),
    dismissUndo: () => setUndoable(null),
    /** Cancel every queued job of this caller (running ones go on). */
    cancelAll: () => cancelAll.mutateAsync(),
    cancellingAll: cancelAll.isPending,
    cancelAllError: current(cancelAll.error, cancelAll.submittedAt, onlineAt),
  };
}
