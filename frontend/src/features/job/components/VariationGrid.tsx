import { dragImageUrl } from "../lib/dragImage";

interface Props {
  outputs: readonly string[];
  /** Each result's seed, in order (null: unknown). */
  seeds: readonly (number | null)[];
  picked: number;
  onPick: (index: number) => void;
  onOpen: (index: number) => void;
}

/**
 * All of a job's results side by side, large enough to choose between: a click picks one, a double-click
 * (or Enter on the picked one) opens it in the viewer. The arrow keys move the pick (JobResult).
 */
export function VariationGrid({ outputs, seeds, picked, onPick, onOpen }: Props) {
  return (
    <ul data-testid="variation-grid" aria-label="Variations side by side" className="grid grid-cols-1 gap-3 sm:grid-cols-2">
      {outputs.map((url, i) => {
        const seed = seeds[i];
        const label = seed === null || seed === undefined ? `Result ${i + 1}` : `Result ${i + 1}, seed ${seed}`;
        return (
          <li key={url}>
            <button
              type="button"
              data-testid="grid-variation"
              aria-pressed={i === picked}
              aria-label={label}
              onClick={() => (i === picked ? onOpen(i) : onPick(i))}
              onDoubleClick={() => onOpen(i)}
              className={`block w-full overflow-hidden rounded-xl border-2 text-left focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 ${
                i === picked ? "border-indigo-600 dark:border-indigo-400" : "border-transparent"
              }`}
            >
              <img
                src={url}
                alt=""
                draggable
                onDragStart={(event) => dragImageUrl(event, url)}
                className="checker block h-auto w-full"
              />
              <span className="block px-2 py-1 text-xs text-zinc-700 dark:text-zinc-300">{label}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
