import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// `npm run dev` proxies to a running `qie serve`; QIE_DEV_BACKEND points it elsewhere.
const backend = process.env.QIE_DEV_BACKEND ?? "http://127.0.0.1:8002";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    // The Python package serves this folder at `/`.
    outDir: "../src/qwen_image_editor/static",
    emptyOutDir: true,
  },
  server: {
    proxy: {
      "/api": { target: backend, changeOrigin: true },
      "/ws": { target: backend, ws: true, changeOrigin: true },
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    restoreMocks: true,
  },
});
