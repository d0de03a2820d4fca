import { useCallback, useEffect, useRef, useState } from "react";
import { errorMessage } from "./api/client";
import { cancelJob, fetchFile, submitEdit } from "./api/jobs";
import type { EditRequest } from "./api/types";
import { EditForm } from "./components/EditForm";
import { HistoryGallery } from "./components/HistoryGallery";
import { JobPanel } from "./components/JobPanel";
import { ServerHeader } from "./components/ServerHeader";
import { Card } from "./components/ui";
import { useCurrentJob } from "./hooks/useCurrentJob";
import { useEditForm } from "./hooks/useEditForm";
import { useHistory } from "./hooks/useHistory";
import { useImageInputs } from "./hooks/useImageInputs";
import { useJobWatcher } from "./hooks/useJobWatcher";
import { usePasteImages } from "./hooks/usePasteImages";
import { useServerStatus } from "./hooks/useServerStatus";

function extensionOf(url: string): string {
  const match = /\.([a-z0-9]+)(?:\?|$)/i.exec(url);
  return match?.[1] ?? "png";
}

export function App() {
  const { health, healthError, limits } = useServerStatus();
  const [jobId, setJobId] = useCurrentJob();
  const inputs = useImageInputs(limits);
  const form = useEditForm(limits, inputs.images.length);
  const { view, applyJob } = useJobWatcher(jobId);
  const history = useHistory();
  const formRef = useRef<HTMLDivElement>(null);
  const resultRef = useRef<HTMLElement>(null);

  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  const addImages = useCallback((files: File[]) => void inputs.add(files), [inputs.add]);
  usePasteImages(addImages);

  // The history shows the current job's status too: refresh it when that changes.
  const { refresh: refreshHistory } = history;
  useEffect(() => {
    if (view.status) void refreshHistory();
  }, [view.status, refreshHistory]);

  useEffect(() => setActionError(null), [jobId]);

  const submit = async () => {
    const config = form.toRequest();
    if (!config) return;
    setSubmitting(true);
    setSubmitError(null);
    try {
      const response = await submitEdit(
        inputs.images.map((img) => img.file),
        config,
      );
      setJobId(response.job_id);
      // The form is long: bring the progress into view (on phones it sits below the form).
      resultRef.current?.scrollIntoView?.({ behavior: "smooth", block: "start" });
    } catch (error) {
      setSubmitError(errorMessage(error));
    } finally {
      setSubmitting(false);
    }
  };

  const cancel = async () => {
    if (!jobId) return;
    setCancelling(true);
    setActionError(null);
    try {
      applyJob(await cancelJob(jobId));
    } catch (error) {
      setActionError(errorMessage(error));
    } finally {
      setCancelling(false);
    }
  };

  const scrollToForm = () => formRef.current?.scrollIntoView({ behavior: "smooth", block: "start" });

  const editResult = async () => {
    const output = view.outputs[0];
    if (!output || !view.jobId) return;
    setActionError(null);
    try {
      const file = await fetchFile(output, `edited_${view.jobId}.${extensionOf(output)}`);
      await inputs.add([file], { replace: true });
      scrollToForm();
    } catch (error) {
      setActionError(errorMessage(error));
    }
  };

  const reuse = (config: EditRequest) => {
    form.reuse(config);
    scrollToForm();
  };

  const removeJob = (id: string) => {
    if (id === jobId) setJobId(null);
    void history.remove(id);
  };

  return (
    <div className="min-h-dvh">
      <ServerHeader health={health} healthError={healthError} />
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
                  submitting={submitting}
                  submitError={submitError}
                  onSubmit={() => void submit()}
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
              view={view}
              cancelling={cancelling}
              actionError={actionError}
              onCancel={() => void cancel()}
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
          onOpen={(id) => {
            setJobId(id);
            window.scrollTo({ top: 0, behavior: "smooth" });
          }}
          onDelete={removeJob}
        />
      </main>
    </div>
  );
}
