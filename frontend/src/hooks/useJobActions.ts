/** Submit and cancel, as mutations whose answers go straight into the query cache. */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { errorMessage } from "../api/client";
import { cancelJob, submitEdit } from "../api/jobs";
import type { EditRequest } from "../api/types";
import { jobListQuery, writeJob } from "./queries";

export function useJobActions(jobId: string | null, onSubmitted: (jobId: string) => void) {
  const client = useQueryClient();

  const submit = useMutation({
    mutationFn: ({ files, config }: { files: readonly File[]; config: EditRequest }) => submitEdit(files, config),
    onSuccess: (response) => {
      onSubmitted(response.job_id);
      // The answer is not a whole job: one read of the list places it and gets the total right. From then
      // on the job's own socket messages keep its entry current.
      void client.invalidateQueries({ queryKey: jobListQuery.queryKey });
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
