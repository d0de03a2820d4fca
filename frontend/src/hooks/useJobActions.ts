/** Submit and cancel, as mutations whose answers go straight into the query cache. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { errorMessage } from "../api/client";
import { cancelJob, submitEdit } from "../api/jobs";
import type { EditRequest } from "../api/types";
import { jobOfAnswer } from "../lib/jobState";
import { writeJob } from "./queries";

export function useJobActions(jobId: string | null, onSubmitted: (jobId: string) => void) {
  const client = useQueryClient();

  const submit = useMutation({
    mutationFn: ({ files, config }: { files: readonly File[]; config: EditRequest }) => submitEdit(files, config),
    onSuccess: (response) => {
      // The answer is the whole queued job: it goes into the history (and its own view) as it is, with no
      // read of the list. From then on the job's socket messages keep it current.
      writeJob(client, jobOfAnswer(response));
      onSubmitted(response.job_id);
    },
  });

  const cancel = useMutation({
    mutationFn: cancelJob,
    onSuccess: (job) => writeJob(client, job),
  });

  return {
    submit: (files: readonly File[], config: EditRequest) => submit.mutateAsync({ files, config }),
    submitting: submit.isPending,
    submitError: submit.error ? errorMessage(submit.error) : null,
    cancel: () => {
      if (jobId) cancel.mutate(jobId);
    },
    // Only for the job on screen: a failed cancel of the previous job is no news about this one.
    cancelling: cancel.isPending && cancel.variables === jobId,
    cancelError: cancel.error && cancel.variables === jobId ? errorMessage(cancel.error) : null,
  };
}
