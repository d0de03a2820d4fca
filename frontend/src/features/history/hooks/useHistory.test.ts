import { act, renderHook, waitFor } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { fakeServer, json } from "../../../test/fakeServer";
import { makeJob } from "../../../test/fixtures";
import { testQueryClient, withClient } from "../../../test/queryClient";
import { useHistory } from "./useHistory";

let server: ReturnType<typeof fakeServer>;

beforeEach(() => {
  server = fakeServer((request) => {
    if (request.method === "GET" && request.path === "/api/jobs") return json({ jobs: [], total: 0 });
    if (request.method === "DELETE") return json({ job_id: "job-1", deleted: true });
    return undefined;
  });
});

describe("useHistory", () => {
  it("sends a delete still waiting out its undo when the page is left, through the typed client, with keepalive", async () => {
    const { result } = renderHook(() => useHistory(), { wrapper: withClient(testQueryClient()) });
    act(() => result.current.scheduleDelete(makeJob({ job_id: "job-1", status: "complete" })));
    expect(server.callsTo("/api/jobs/job-1", "DELETE")).toHaveLength(0);

    act(() => void window.dispatchEvent(new Event("pagehide")));
    await waitFor(() => expect(server.callsTo("/api/jobs/job-1", "DELETE")).toHaveLength(1));
    const sent = server.fetch.mock.calls.map(([input]) => input).filter((r) => r instanceof Request && r.method === "DELETE");
    expect(sent).toEqual([expect.objectContaining({ keepalive: true })]);
  });
});
