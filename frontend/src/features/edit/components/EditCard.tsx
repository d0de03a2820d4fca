import type { Limits } from "../../../api/types";
import { Card } from "../../../components/ui";
import type { EditState } from "../hooks/useEditState";
import { EditForm } from "./EditForm";

interface Props {
  limits: Limits | null;
  edit: EditState;
  /** The server has not answered: the card waits for it rather than say "Loading…". */
  waiting: boolean;
  submitting: boolean;
  submitError: string | null;
  onSubmit: () => void;
  /** A result's URL dropped on the images (fetched, then added as a file). */
  onAddImageUrl: (url: string) => void;
}

/** The edit form in its card, once the limits and the form's values are known. */
export function EditCard({ limits, edit, waiting, submitting, submitError, onSubmit, onAddImageUrl }: Props) {
  const { inputs, loras, form, region } = edit;
  return (
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
          onSubmit={onSubmit}
          images={inputs.images}
          imageErrors={inputs.errors}
          imageNotes={inputs.notes}
          onAddImages={edit.addImages}
          onAddImageUrl={onAddImageUrl}
          onRemoveImage={inputs.remove}
          onMoveImage={inputs.move}
          loras={loras.loras}
          lorasError={loras.error}
          onLorasOpen={loras.refresh}
          region={region}
        />
      ) : (
        <p className="py-10 text-center text-sm text-zinc-600 dark:text-zinc-400" role="status">
          {waiting ? "Waiting for the server…" : "Loading…"}
        </p>
      )}
    </Card>
  );
}
