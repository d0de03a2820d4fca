/** The job panel as the page wires it (default watcher, real query cache), fed by socket messages only. */
import { QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { useJobWatcher } from "../hooks/useJobWatcher";
import { FakeWebSocket } from "../../../test/FakeWebSocket";
import { jobMessage, makeJob, makeProgress } from "../../../test/fixtures";
import { testQueryClient } from "../../../test/queryClient";
import { JobPanel } from "./JobPanel";

function Watched({ jobId }: { jobId: string }) {
  const watch = useJobWatcher(jobId);
  return <JobPanel view={watch} cancelling={false} actionError={null} onCancel={vi.fn()} onEditResult={vi.fn()} onReuse={vi.fn()} onClose={vi.fn()} />;
}

let fetchSpy: ReturnType<typeof vi.fn>;

beforeEach(() => {
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  fetchSpy = vi.fn(() => Promise.resolve(new Response("{}", { status: 500 })));
  vi.stubGlobal("fetch", fetchSpy);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("JobPanel from the socket alone", () => {
  it("renders a finished job from its snapshot and final message, without any fetch", async () => {
    const done = makeJob({
      job_id: "done-job",
      status: "complete",
      queue_position: null,
      attempts: 1,
      progress: makeProgress({ stage: "saving", step: null, progress: 100 }),
      config: { ...makeJob().config, prompt: "paint it gold", seed: 987654 },
      inputs: ["/api/jobs/done-job/files/input_1.png"],
      outputs: ["/api/jobs/done-job/files/output_1.png"],
      started_at: "2026-01-01T00:00:01Z",
      finished_at: "2026-01-01T00:00:30Z",
    });
    render(
      <QueryClientProvider client={testQueryClient()}>
        <Watched jobId="done-job" />
      </QueryClientProvider>,
    );
    const ws = FakeWebSocket.last;
    expect(ws.url).toMatch(/\/ws\/done-job$/);
    act(() => ws.open());
    act(() => ws.send(jobMessage("snapshot", done)));
    act(() => ws.send(jobMessage("complete", done)));
    act(() => ws.drop(1000));

    expect(await screen.findByTestId("result-image")).toHaveAttribute("src", "/api/jobs/done-job/files/output_1.png");
    expect(screen.getByTestId("job-status")).toHaveTextContent("complete");
    expect(screen.getByAltText("Original input")).toHaveAttribute("src", "/api/jobs/done-job/files/input_1.png");
    expect(screen.getByTestId("download")).toHaveAttribute("href", "/api/jobs/done-job/download");
    expect(screen.getByTestId("result-settings")).toHaveTextContent("paint it gold");
    expect(screen.getByTestId("result-seed")).toHaveTextContent("987654");
    expect(screen.getByTestId("reuse-settings")).toBeInTheDocument();
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
