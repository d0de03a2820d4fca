import { useId, useRef, useState } from "react";
import type { HistoryFilter, StatusFilter } from "../lib/jobList";
import { inputClass } from "../../../components/ui";

const STATUS_LABELS: Record<StatusFilter, string> = {
  all: "All",
  active: "Queued or running",
  complete: "Complete",
  failed: "Failed or cancelled",
};

const isStatusFilter = (value: string): value is StatusFilter => Object.keys(STATUS_LABELS).includes(value);

interface Props {
  filter: HistoryFilter;
  onChange: (change: Partial<HistoryFilter>) => void;
}

/** Search by prompt (as typed, a moment after the last key), status, starred only. */
export function HistoryFilters({ filter, onChange }: Props) {
  const ids = { search: useId(), status: useId(), starred: useId() };
  const [typed, setTyped] = useState(filter.search);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  const search = (text: string) => {
    setTyped(text);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => onChange({ search: text }), 250);
  };

  return (
    <div className="flex flex-wrap items-end gap-3" role="search" aria-label="Search the history">
      <div className="min-w-48 flex-1 space-y-1">
        <label htmlFor={ids.search} className="text-xs font-medium">
          Search prompts
        </label>
        <input
          id={ids.search}
          data-testid="history-search"
          type="search"
          value={typed}
          placeholder="e.g. sky"
          className={inputClass}
          onChange={(e) => search(e.target.value)}
        />
      </div>
      <div className="space-y-1">
        <label htmlFor={ids.status} className="text-xs font-medium">
          Status
        </label>
        <select
          id={ids.status}
          data-testid="history-status"
          value={filter.status}
          className={inputClass}
          onChange={(e) => {
            const status = e.target.value;
            if (isStatusFilter(status)) onChange({ status });
          }}
        >
          {Object.entries(STATUS_LABELS).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      <div className="flex items-center gap-2 pb-2">
        <input
          id={ids.starred}
          data-testid="history-starred"
          type="checkbox"
          checked={filter.starred}
          className="size-4 accent-indigo-600"
          onChange={(e) => onChange({ starred: e.target.checked })}
        />
        <label htmlFor={ids.starred} className="text-sm">
          Starred only
        </label>
      </div>
    </div>
  );
}
