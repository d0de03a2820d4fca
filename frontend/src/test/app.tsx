/** The whole page against a fake server and FakeWebSocket, for the App tests. */
import type { QueryClient } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { vi } from "vitest";
import type { Health, Job, Limits, LoraView, Session } from "../api/types";
import { App } from "../App";
import { FakeWebSocket } from "./FakeWebSocket";
import { fakeServer, formText, json, type Route } from "./fakeServer";
import { APACHE, makeJob, makeLimits } from "./fixtures";
import { testQueryClient, withClient } from "./queryClient";

export const health: Health = {
  status: "online",
  version: "0.1.0",
  model: "tiny",
  model_state: "ready",
  model_error: null,
  device: "cpu",
  queue_length: 0,
  worker_alive: true,
  workers: 0,
  demo: true,
  keys_required: false,
  license: APACHE,
  warning: null,
};

/** GET /api/session on a server without keys. */
export const openSession: Session = { keys_required: false, signed_in: false, name: null, admin: false, expires_at: null };

export interface AppWorld {
  health: Health;
  /** What GET /api/session answers (open mode unless a test says otherwise). */
  session: Session;
  limits: Limits;
  /** What GET /api/jobs answers. */
  history: Job[];
  /** What GET /api/loras answers. */
  loras: LoraView[];
  /** Answers tried before the defaults (health, limits, list, submit). */
  extra: Route;
  server: ReturnType<typeof fakeServer>;
  client: QueryClient;
}

/** Call in beforeEach: fresh server, cache, socket fakes and URL. */
export function setUpApp(): AppWorld {
  FakeWebSocket.reset();
  vi.stubGlobal("WebSocket", FakeWebSocket);
  window.localStorage.clear();
  window.history.replaceState(null, "", "/");
  const world: AppWorld = {
    health,
    session: openSession,
    limits: makeLimits({ max_steps: 30, default_steps: 20, min_cfg: 1, max_cfg: 10, default_cfg: 3, max_images: 2, max_image_bytes: 10_000 }),
    history: [],
    loras: [],
    extra: () => undefined,
    client: testQueryClient(),
    server: fakeServer(async (req) => {
      const answer = await world.extra(req);
      if (answer) return answer;
      if (req.path === "/api/health") return json(world.health);
      if (req.path === "/api/session" && req.method === "GET") return json(world.session);
      if (req.path === "/api/limits") return json(world.limits);
      if (req.path === "/api/loras") return json({ loras: world.loras });
      if (req.path === "/api/jobs" && req.method === "GET") return json({ jobs: world.history, total: world.history.length });
      if (req.path === "/api/edit" && req.method === "POST") {
        const config: unknown = JSON.parse(formText(req.form, "config"));
        if (config && typeof config === "object" && "prompt" in config && config.prompt === "full")
          return json({ detail: "The queue is full; try again in a minute." }, 503);
        // The whole queued job, as the server answers.
        const prompt = config && typeof config === "object" && "prompt" in config ? String(config.prompt) : "";
        const job = makeJob({ job_id: "new-job", created_at: new Date().toISOString(), config: { ...makeJob().config, prompt } });
        return json({ ...job, message: "Queued" }, 202);
      }
      return undefined;
    }),
  };
  return world;
}

export async function renderApp(world: AppWorld) {
  render(<App />, { wrapper: withClient(world.client) });
  const submit = await screen.findByTestId("submit");
  return { submit, user: userEvent.setup({ applyAccept: false }) };
}

/** The page on a server that needs a key, when it asks for one. */
export async function renderSignIn(world: AppWorld) {
  render(<App />, { wrapper: withClient(world.client) });
  const key = await screen.findByLabelText("API key");
  return { key, user: userEvent.setup({ applyAccept: false }) };
}

/** Reads of one job (GET /api/jobs/{id}...): the page needs none while the job's socket is up. */
export const jobReads = (world: AppWorld) => world.server.calls.filter((c) => c.path.startsWith("/api/jobs/") && c.method === "GET");
/** Reads of the history list. */
export const listReads = (world: AppWorld) => world.server.calls.filter((c) => c.path === "/api/jobs" && c.method === "GET");
