/**
 * Past jobs, newest first. Read once, then kept current by writes from events the page already has
 * (the watched job's messages, submit and cancel answers); a slow idle refetch catches jobs from elsewhere.
 * Delete takes the entry out at once and puts it back if the server refuses.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, errorMessage } from "../api/client";
import { deleteJob } from "../api/jobs";
import { forgetJob, jobListQuery } from "./queries";

export function useHistory() {
  const client = useQueryClient();
  const list = useQuery(jobListQuery);

  const remove = useMutation({
    mutationFn: deleteJob,
    onMutate: async (jobId: string) => {
      // A read in flight would bring the entry back.
      await client.cancelQueries({ queryKey: jobListQuery.queryKey });
      const previous = client.getQueryData(jobListQuery.queryKey);
      forgetJob(client, jobId);
      return { previous };
    },
    onError: (error, _jobId, context) => {
      // 404: someone else deleted it first; it is gone either way.
      if (error instanceof ApiError && error.status === 404) return;
      if (context?.previous) client.setQueryData(jobListQuery.queryKey, context.previous);
    },
  });

  const error = list.error ?? remove.error;
  return {
    jobs: list.data?.jobs ?? [],
    total: list.data?.total ?? 0,
    error: error ? errorMessage(error) : null,
    loaded: list.isFetched || list.data !== undefined,
    remove: remove.mutate,
  };
}
