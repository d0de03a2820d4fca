import { useCallback, useRef, useState } from "react";
import { isTerminal, type EditRequest, type Job } from "./api/types";
import { ModelFooter } from "./components/ModelFooter";
import { NotifyToggle } from "./components/NotifyToggle";
import { EditCard } from "./features/edit/components/EditCard";
import { useEditState } from "./features/edit/hooks/useEditState";
import { useRecall } from "./features/edit/hooks/useRecall";
import { HistoryGallery } from "./features/history/components/HistoryGallery";
import { UndoToast } from "./features/history/components/UndoToast";
import { useHistory } from "./features/history/hooks/useHistory";
import { JobPanel } from "./features/job/components/JobPanel";
import { useCurrentJob } from "./features/job/hooks/useCurrentJob";
import { useJobActions } from "./features/job/hooks/useJobActions";
import { useJobWatcher } from "./features/job/hooks/useJobWatcher";
import { useRevealResult } from "./features/job/hooks/useRevealResult";
import { QueueStrip } from "./features/queue/components/QueueStrip";
import type { Activity } from "./features/queue/hooks/useActivity";
import { useNow } from "./hooks/useNow";
import { useFinishNotifications, usePageTitle, useShortcuts } from "./hooks/usePageSignals";
import { useLimits } from "./hooks/useServerStatus";

interface Props {
  healthError: string | null;
  /** The server cannot be reached (health or the live socket). */
  offline: boolean;
  /** When the server last answered (ms since the epoch): errors older than that are stale. */
  onlineAt: number;
  activity: Activity;
  notifications: ReturnType<typeof useFinishNotifications>;
}

const isActive = (job: Job | null | undefined) => !!job && !isTerminal(job.status);

/** The queue strip, the form, the job on screen and the history: shown signed in, or on an open server. */
export function Editor({ healthError, offline, onlineAt, activity, notifications }: Props) {
  const limits = useLimits();
  const [jobId, setJobId] = useCurrentJob();
  const edit = useEditState(limits);
  const watch = useJobWatcher(jobId);
  const history = useHistory();
  const now = useNow();
  const formRef = useRef<HTMLDivElement>(null);
  const resultRef = useRef<HTMLElement>(null);
  const revealResult = useRevealResult(resultRef);
  // The job on screen was deleted (its undo may bring it back): say so rather than go blank.
  const [deletedOpen, setDeletedOpen] = useState<string | null>(null);
  const watchedJob = watch.job;

  const showJob = useCallback(
    (id: string | null) => {
      setDeletedOpen(null);
      setJobId(id);
    },
    [setJobId],
  );

  const onSubmitted = useCallback(
    (id: string) => {
      // A job still running stays on screen; the new one waits in the queue strip above it.
      if (isActive(watchedJob)) return;
      showJob(id);
      revealResult();
    },
    [watchedJob, showJob, revealResult],
  );
  const actions = useJobActions(jobId, onSubmitted, onlineAt);

  const scrollToForm = useCallback(() => formRef.current?.scrollIntoView?.({ behavior: "smooth", block: "start" }), []);
  const recall = useRecall({ add: edit.inputs.add, reuse: edit.form.reuse, loadRegion: edit.region.load }, scrollToForm);

  const submit = () => {
    const request = edit.toSubmission();
    if (!request || actions.submitting) return;
    // The mutation keeps the error for the form to show; nothing else to do here.
    actions.submit(request.files, request.config, request.minImages, request.mask).catch(() => {});
  };

  const runningJob = activity.jobs?.find((j) => j.status === "processing") ?? null;
  // Esc cancels only the job on screen: never one running out of sight.
  useShortcuts(submit, () => {
    if (isActive(watchedJob) && jobId) actions.cancel(jobId);
  });
  usePageTitle(watchedJob ?? runningJob);

  const removeJob = (job: Job) => {
    const open = job.job_id === jobId;
    history.scheduleDelete(job, open);
    if (open) {
      setJobId(null);
      setDeletedOpen(job.job_id);
    }
  };

  const undoDelete = (id: string) => {
    const entry = history.undo(id);
    if (entry?.wasOpen) showJob(entry.job.job_id);
  };

  const reuse = (config: EditRequest, urls: readonly string[], mask: string | null) => recall.reuse(config, urls, jobId, mask);
  const recallError = recall.error && (recall.error.jobId === null || recall.error.jobId === jobId) ? recall.error.message : null;
  const actionError = actions.cancelError ?? actions.undoError ?? recallError;

  return (
    <main className="mx-auto max-w-7xl space-y-6 px-4 py-6">
      <QueueStrip
        jobs={activity.jobs ?? []}
        currentJobId={jobId}
        cancelling={actions.cancellingId}
        onOpen={(id) => {
          showJob(id);
          revealResult();
        }}
        onCancel={actions.cancel}
        onCancelAll={actions.cancelAll}
        cancelAllError={actions.cancelAllError}
      />
      <div className="grid gap-6 lg:grid-cols-[minmax(0,26rem)_minmax(0,1fr)]">
        <div ref={formRef} className="scroll-mt-20 space-y-2">
          <EditCard
            limits={limits}
            edit={edit}
            waiting={healthError !== null}
            submitting={actions.submitting}
            submitError={actions.submitError}
            onSubmit={submit}
            onAddImageUrl={(url) => void recall.addUrl(url)}
          />
          <NotifyToggle {...notifications} />
        </div>
        <section ref={resultRef} aria-label="Result" className="scroll-mt-28">
          <JobPanel
            view={watch}
            offline={offline}
            preview={watch.preview?.url ?? null}
            noPreviewsBecause={limits?.no_previews_because ?? null}
            textToImage={limits?.text_to_image ?? false}
            deleted={deletedOpen !== null && history.pending.some((p) => p.job.job_id === deletedOpen)}
            cancelling={actions.cancelling}
            actionError={actionError}
            onCancel={() => jobId && actions.cancel(jobId)}
            onEditResult={(index) => watchedJob && recall.editResult(watchedJob, index)}
            onReuse={reuse}
            fast={limits?.fast ?? null}
            onStar={(starred) => jobId && history.setStarred(jobId, starred)}
            onClose={() => showJob(null)}
          />
        </section>
      </div>
      <HistoryGallery
        jobs={history.jobs}
        total={history.total}
        pages={history.pages}
        filter={history.filter}
        onFilter={history.setFilter}
        error={history.error}
        loaded={history.loaded}
        currentJobId={jobId}
        now={now}
        onOpen={(id) => {
          showJob(id);
          window.scrollTo({ top: 0, behavior: "smooth" });
        }}
        onDelete={removeJob}
        onStar={history.setStarred}
      />
      <UndoToast pending={history.pending} onUndo={undoDelete} cancelled={actions.undoable} onUndoCancel={actions.undoCancel} />
      {limits && <ModelFooter name={limits.model_name} license={limits.license} />}
    </main>
  );
}
