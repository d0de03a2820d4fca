import { useCallback, useRef, useState } from "react";
import { errorMessage } from "./api/client";
import { fetchFile } from "./api/jobs";
import type { EditRequest } from "./api/types";
import { EditForm } from "./components/EditForm";
import { HistoryGallery } from "./components/HistoryGallery";
import { JobPanel } from "./components/JobPanel";
import { Card } from "./components/ui";
import { useCurrentJob } from "./hooks/useCurrentJob";
import { useEditForm } from "./hooks/useEditForm";
import { useHistory } from "./hooks/useHistory";
import { useImageInputs } from "./hooks/useImageInputs";
import { useJobActions } from "./hooks/useJobActions";
import { useJobWatcher } from "./hooks/useJobWatcher";
import { useNow } from "./hooks/useNow";
import { usePasteImages } from "./hooks/usePasteImages";
import { useLimits } from "./hooks/useServerStatus";

function extensionOf(url: string): string {
  const match = /\.([a-z0-9]+)(?:\?|$)/i.exec(url);
  return match?.[1] ?? "png";
}

/** The form, the job on screen and the history: shown signed in, or on an open server. */
export function Editor({ healthError }: { healthError: string | null }) {
  const limits = useLimits();
  const [jobId, setJobId] = useCurrentJob();
  const inputs = useImageInputs(limits);
  const form = useEditForm(limits, inputs.images);
  const watch = useJobWatcher(jobId);
  const history = useHistory();
  const now = useNow();
  const formRef = useRef<HTMLDivElement>(null);
  const resultRef = useRef<HTMLElement>(null);
  // Tagged with its job, so opening another job hides it without an effect to clear it.
  const [editError, setEditError] = useState<{ jobId: string; message: string } | null>(null);

  const onSubmitted = useCallback(
    (id: string) => {
      setJobId(id);
      // The form is long: bring the progress into view (on phones it sits below the form).
      resultRef.current?.scrollIntoView?.({ behavior: "smooth", block: "start" });
    },
    [setJobId],
  );
  const actions = useJobActions(jobId, onSubmitted);

  const { add: addInputs } = inputs;
  const addImages = useCallback((files: File[]) => void addInputs(files), [addInputs]);
  usePasteImages(addImages);

  const submit = () => {
    const config = form.toRequest();
    if (!config) return;
    // The mutation keeps the error for the form to show; nothing else to do here.
    actions.submit(inputs.images.map((img) => img.file), config).catch(() => {});
  };

  const scrollToForm = () => formRef.current?.scrollIntoView({ behavior: "smooth", block: "start" });

  const editResult = async () => {
    const output = watch.job?.outputs[0];
    if (!output || !jobId) return;
    setEditError(null);
    try {
      const file = await fetchFile(output, `edited_${jobId}.${extensionOf(output)}`);
      await inputs.add([file], { replace: true });
      scrollToForm();
    } catch (error) {
      setEditError({ jobId, message: errorMessage(error) });
    }
  };

  const reuse = (config: EditRequest) => {
    form.reuse(config);
    scrollToForm();
  };

  const removeJob = (id: string) => {
    if (id === jobId) setJobId(null);
    history.remove(id);
  };

  const actionError = actions.cancelError ?? (editError && editError.jobId === jobId ? editError.message : null);

  return (
    <main className="mx-auto max-w-7xl space-y-8 px-4 py-6">
        <div className="grid gap-6 lg:grid-cols-[minmax(0,26rem)_minmax(0,1fr)]">
          <div ref={formRef} className="scroll-mt-20">
            <Card>
              {limits && form.values ? (
                <EditForm
                  limits={limits}
                  values={form.values}
                  onChange={form.setField}
                  onRollSeed={form.rollSeed}
                  problem={form.problem}
                  submitting={actions.submitting}
                  submitError={actions.submitError}
                  onSubmit={submit}
                  images={inputs.images}
                  imageErrors={inputs.errors}
                  onAddImages={addImages}
                  onRemoveImage={inputs.remove}
                  onMoveImage={inputs.move}
                />
              ) : (
                <p className="py-10 text-center text-sm text-zinc-500" role="status">
                  {healthError ? "Waiting for the server…" : "Loading…"}
                </p>
              )}
            </Card>
          </div>
          <section ref={resultRef} aria-label="Result" className="scroll-mt-28">
            <JobPanel
              view={watch}
              cancelling={actions.cancelling}
              actionError={actionError}
              onCancel={actions.cancel}
              onEditResult={() => void editResult()}
              onReuse={reuse}
              onClose={() => setJobId(null)}
            />
          </section>
        </div>
        <HistoryGallery
          jobs={history.jobs}
          total={history.total}
          error={history.error}
          loaded={history.loaded}
          currentJobId={jobId}
          now={now}
          onOpen={(id) => {
            setJobId(id);
            window.scrollTo({ top: 0, behavior: "smooth" });
          }}
          onDelete={removeJob}
        />
    </main>
  );
}
