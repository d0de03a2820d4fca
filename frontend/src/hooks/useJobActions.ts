/** Submit and cancel, as mutations whose answers go straight into the query cache. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { errorMessage, UNREACHABLE } from "../api/client";
import { cancelJob, submitEdit } from "../api/jobs";
import type { EditRequest } from "../api/types";
import { jobOfAnswer } from "../lib/jobState";
import { writeJob } from "./queries";

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

  const cancel = useMutation({
    mutationFn: cancelJob,
    onSuccess: (job) => writeJob(client, job),
  });

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
  };
}
