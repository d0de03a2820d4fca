import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/react";
import { afterEach } from "vitest";
import { TestRequest } from "./request";

afterEach(() => cleanup());

globalThis.Request = TestRequest;

// jsdom has no object URLs; thumbnails only need a stable string.
let urlCounter = 0;
if (!URL.createObjectURL) {
  URL.createObjectURL = () => `blob:test/${++urlCounter}`;
  URL.revokeObjectURL = () => {};
}
