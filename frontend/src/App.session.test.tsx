/** The sign-in: asked for only when the server needs a key, the key sent once, and back to it when the session ends. */
import { act, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Session } from "./api/types";
import { jobListQuery } from "./api/queries";
import { renderApp, renderSignIn, setUpApp, type AppWorld } from "./test/app";
import { FakeWebSocket } from "./test/FakeWebSocket";
import { json } from "./test/fakeServer";
import { fileOf, makeJob } from "./test/fixtures";

vi.mock("./lib/imageSize", () => ({ readImageSize: () => Promise.resolve({ width: 64, height: 64 }) }));

const KEY = "qie_k_secret-value-123";
const WRONG = "that API key is not valid (revoked, or mistyped)";
const alice: Session = { keys_required: true, signed_in: true, name: "alice", admin: false, expires_at: "2026-01-08T00:00:00Z" };
const nobody: Session = { keys_required: true, signed_in: false, name: null, admin: false, expires_at: null };

let world: AppWorld;
/** Whether the fake server's cookie is set: the routes that need a session answer 401 without it. */
let signedIn: boolean;

beforeEach(() => {
  world = setUpApp();
  window.sessionStorage.clear();
  signedIn = false;
  world.session = nobody;
  world.extra = (req) => {
    if (req.path === "/api/session" && req.method === "POST") {
      const body = req.body;
      const key = body && typeof body === "object" && "key" in body ? body.key : null;
      if (key === "slow down") return json({ detail: "too many wrong keys from 127.0.0.1; wait 60 s before trying again" }, 429);
      if (key !== KEY) return json({ detail: WRONG }, 401);
      signedIn = true;
      return json(alice);
    }
    if (req.path === "/api/session" && req.method === "DELETE") {
      signedIn = false;
      return json(nobody);
    }
    const isPublic = req.path === "/api/health" || req.path === "/api/session";
    if (!isPublic && !signedIn) return json({ detail: "your session has ended (signed out, expired, or its key was revoked); sign in again" }, 401);
    return undefined;
  };
});

afterEach(() => {
  vi.unstubAllGlobals();
});

/** Reads and writes that need a session (anything but health and the session itself). */
const privateCalls = () => world.server.calls.filter((c) => c.path !== "/api/health" && c.path !== "/api/session");

/** The key must not be anywhere the page keeps things: storage, the URL, the query cache. */
function expectKeyForgotten() {
  const stored = [window.localStorage, window.sessionStorage].flatMap((s) => Object.keys(s).map((k) => `${k}=${s.getItem(k)}`));
  expect(stored.join("\n")).not.toContain(KEY);
  expect(window.location.href).not.toContain(KEY);
  expect(world.server.calls.map((c) => c.url).join("\n")).not.toContain(KEY);
  const cached = JSON.stringify([world.client.getQueryCache().getAll().map((q) => q.state), world.client.getMutationCache().getAll().map((m) => m.state)]);
  expect(cached).not.toContain(KEY);
  for (const input of document.querySelectorAll("input")) expect(input.value).not.toContain(KEY);
}

describe("App: sign-in", () => {
  it("asks for the key when the server needs one and this browser has no session", async () => {
    const { key } = await renderSignIn(world);
    expect(key).toHaveAttribute("type", "password");
    expect(key).toHaveFocus();
    const panel = screen.getByTestId("sign-in");
    expect(within(panel).getByRole("heading", { name: "Sign in" })).toBeInTheDocument();
    expect(panel).toHaveTextContent("qie keys create NAME");
    expect(within(panel).getByRole("button", { name: "Sign in" })).toBeEnabled();
    // Neither the form nor the history, and nothing asked of the server that needs a key.
    expect(screen.queryByTestId("submit")).toBeNull();
    expect(screen.queryByText(/History/)).toBeNull();
    expect(screen.queryByTestId("sign-out")).toBeNull();
    expect(privateCalls()).toEqual([]);
  });

  it("shows the server's message for a wrong key, and clears the input", async () => {
    const { key, user } = await renderSignIn(world);
    await user.type(key, "not-the-key{Enter}");
    expect(await screen.findByTestId("sign-in-error")).toHaveTextContent(WRONG);
    expect(key).toHaveValue("");
    expect(key).toHaveAttribute("aria-invalid", "true");
    expect(key).toHaveFocus();
    expect(screen.queryByTestId("submit")).toBeNull();
    expect(world.server.callsTo("/api/session", "POST").map((c) => c.body)).toEqual([{ key: "not-the-key" }]);

    await user.type(key, "slow down{Enter}");
    expect(await screen.findByTestId("sign-in-error")).toHaveTextContent("too many wrong keys from 127.0.0.1; wait 60 s");
  });

  it("is busy while the key is checked", async () => {
    let answer: (response: Response) => void = () => {};
    const fallback = world.extra;
    world.extra = (req) => (req.method === "POST" && req.path === "/api/session" ? new Promise<Response>((resolve) => (answer = resolve)) : fallback(req));
    const { key, user } = await renderSignIn(world);
    await user.type(key, `${KEY}{Enter}`);
    const button = screen.getByTestId("sign-in-submit");
    expect(button).toBeDisabled();
    expect(button).toHaveTextContent("Signing in…");
    expect(screen.getByTestId("sign-in")).toHaveAttribute("aria-busy", "true");
    signedIn = true;
    act(() => answer(json(alice)));
    expect(await screen.findByTestId("submit")).toBeInTheDocument();
  });

  it("with the right key shows the app, and the header says who is signed in", async () => {
    const { key, user } = await renderSignIn(world);
    await user.type(key, KEY);
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByTestId("submit")).toBeInTheDocument();
    expect(screen.getByTestId("session-name")).toHaveTextContent("alice");
    expect(screen.getByTestId("sign-out")).toHaveTextContent("Sign out");
    expect(screen.queryByTestId("sign-in")).toBeNull();
    await waitFor(() => expect(world.server.callsTo("/api/jobs", "GET")).toHaveLength(1));
    // The session was read once, at the start: the sign-in's answer says the rest.
    expect(world.server.callsTo("/api/session", "GET")).toHaveLength(1);
    expectKeyForgotten();
  });

  it("goes straight to the app when this browser is already signed in", async () => {
    world.session = alice;
    signedIn = true;
    await renderApp(world);
    expect(screen.getByTestId("session-name")).toHaveTextContent("alice");
  });

  it("open mode: no sign-in and no Sign out", async () => {
    world.session = { ...nobody, keys_required: false };
    signedIn = true; // open: everything answers
    await renderApp(world);
    expect(screen.queryByTestId("sign-in")).toBeNull();
    expect(screen.queryByTestId("sign-out")).toBeNull();
  });

  it("shows the server's warning", async () => {
    world.session = { ...nobody, keys_required: false };
    world.health = { ...world.health, warning: "started with --insecure-no-auth and no API keys" };
    signedIn = true;
    await renderApp(world);
    expect(await screen.findByTestId("server-warning")).toHaveTextContent("started with --insecure-no-auth and no API keys");
  });
});

describe("App: the session ends", () => {
  it("a 401 mid-session returns to the sign-in with a message, and forgets what it read", async () => {
    world.session = alice;
    signedIn = true;
    world.history = [makeJob({ job_id: "mine", status: "complete" })];
    const { submit, user } = await renderApp(world);
    await waitFor(() => expect(screen.getAllByTestId("history-item")).toHaveLength(1));

    signedIn = false; // expired, or revoked on the server
    await user.upload(screen.getByTestId("image-input"), fileOf("cat.png", "image/png", 100));
    await user.type(screen.getByTestId("prompt"), "make it blue");
    await user.click(submit);

    expect(await screen.findByTestId("sign-in-notice")).toHaveTextContent("Your session has ended; sign in again");
    expect(screen.getByLabelText("API key")).toHaveFocus();
    expect(screen.queryByTestId("submit")).toBeNull();
    expect(screen.queryByTestId("session-name")).toBeNull();
    expect(world.client.getQueryData(jobListQuery().queryKey)).toBeUndefined();

    // Signing in again brings the page back, read afresh.
    await user.type(screen.getByLabelText("API key"), `${KEY}{Enter}`);
    expect(await screen.findByTestId("submit")).toBeInTheDocument();
    await waitFor(() => expect(screen.getAllByTestId("history-item")).toHaveLength(1));
    expect(screen.queryByTestId("sign-in-notice")).toBeNull();
  });

  it("a socket closed with 1008 returns to the sign-in", async () => {
    world.session = alice;
    signedIn = true;
    window.history.replaceState(null, "", "/?job=mine");
    await renderApp(world);
    const ws = FakeWebSocket.last;
    expect(ws.url).toMatch(/\/ws\/mine$/);
    signedIn = false;
    act(() => ws.drop(1008, "your session has ended"));
    expect(await screen.findByTestId("sign-in-notice")).toHaveTextContent("Your session has ended; sign in again");
    // No reconnect behind the sign-in: the job's socket and the activity socket, once each.
    expect(FakeWebSocket.instances.map((s) => s.url.replace(/^.*\/ws/, "/ws")).sort()).toEqual(["/ws", "/ws/mine"]);
  });
});

describe("App: sign out", () => {
  it("ends the session on the server, clears the cache and the current job, and asks for the key again", async () => {
    world.session = alice;
    signedIn = true;
    world.history = [makeJob({ job_id: "mine", status: "complete" })];
    window.history.replaceState(null, "", "/?job=mine");
    const { user } = await renderApp(world);
    await waitFor(() => expect(screen.getAllByTestId("history-item")).toHaveLength(1));

    await user.click(screen.getByTestId("sign-out"));
    const key = await screen.findByLabelText("API key");
    expect(key).toHaveFocus();
    expect(world.server.callsTo("/api/session", "DELETE")).toHaveLength(1);
    expect(screen.getByTestId("sign-in-notice")).toHaveTextContent("You have signed out.");
    expect(screen.queryByTestId("history-item")).toBeNull();
    expect(world.client.getQueryCache().getAll().map((q) => q.queryKey[0]).sort()).toEqual(["health", "session"]);
    expect(window.location.search).toBe("");
    expect(window.localStorage.getItem("qie.currentJob")).toBeNull();
  });

  it("says so when the server could not end the session", async () => {
    world.session = alice;
    signedIn = true;
    const fallback = world.extra;
    world.extra = (req) => (req.method === "DELETE" && req.path === "/api/session" ? json({ detail: "database is locked" }, 500) : fallback(req));
    const { user } = await renderApp(world);
    await user.click(screen.getByTestId("sign-out"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not sign out: database is locked");
    expect(screen.getByTestId("submit")).toBeInTheDocument();
  });
});
