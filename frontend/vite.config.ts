import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// `npm run dev` proxies to a running `qie serve`; QIE_DEV_BACKEND points it elsewhere.
const backend = process.env.QIE_DEV_BACKEND ?? "http://127.0.0.1:8002";
// The server refuses sign-in, changes and sockets from pages on other origins. Through this proxy the page
// and the API are one origin to the browser (the session cookie is this dev server's), so say that to the
// server too: the Origin is rewritten to the backend's own, as Host is by changeOrigin.
const sameOrigin = { origin: new URL(backend).origin };

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // The Python package serves this folder at `/`.
    outDir: "../src/qwen_image_editor/static",
    emptyOutDir: true,
  },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: true, headers: sameOrigin },
      "/ws": { target: backend, ws: true, changeOrigin: true, headers: sameOrigin },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    restoreMocks: true,
    testTimeout: 30_000, // a per-test ceiling, not a speed goal: busy machines are slow
  },
});
