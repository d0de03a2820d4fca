import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";
import { TestRequest } from "./request";

afterEach(() => cleanup());

// findBy/waitFor wait for an outcome, not a speed: the default 1 s fails on a busy machine (CI under load).
configure({ asyncUtilTimeout: 10_000 });

globalThis.Request = TestRequest;

// jsdom has no object URLs; thumbnails only need a stable string.
let urlCounter = 0;
if (!URL.createObjectURL) {
  URL.createObjectURL = () => `blob:test/${++urlCounter}`;
  URL.revokeObjectURL = () => {};
}
