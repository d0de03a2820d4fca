import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeServer, json } from "../test/fakeServer";
import { ApiError, detailOf, UNREACHABLE } from "./client";
import { deleteJob, listJobs, submitEdit } from "./jobs";
import { getHealth } from "./system";

afterEach(() => {
  vi.unstubAllGlobals();
});

const status = { status: 400, statusText: "Bad Request" };

describe("detailOf", () => {
  it("reads our {detail} string and FastAPI's list of {msg}", () => {
    expect(detailOf({ detail: "config is not valid JSON" }, status)).toBe("config is not valid JSON");
    expect(detailOf({ detail: [{ msg: "field required" }, { msg: "too long" }] }, status)).toBe("field required; too long");
  });
  it("falls back to the status line for anything else", () => {
    expect(detailOf("<html>bad gateway</html>", status)).toBe("400 Bad Request");
    expect(detailOf(undefined, status)).toBe("400 Bad Request");
    expect(detailOf({ detail: 3 }, status)).toBe("400 Bad Request");
  });
});

describe("typed endpoints", () => {
  it("turn an error answer into an ApiError with the server's detail", async () => {
    fakeServer(() => json({ detail: "config is not valid JSON" }, 400));
    const error = await submitEdit([new File(["x"], "a.png", { type: "image/png" })], {
      prompt: "p",
      negative_prompt: "",
      true_cfg_scale: 4,
      num_inference_steps: 10,
      seed: null,
      output_format: "png",
      keep_input_size: false,
      num_images: 1,
      lightning: false,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, detail: "config is not valid JSON" });
  });

  it("say the server cannot be reached when fetch itself fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(getHealth()).rejects.toMatchObject({ status: 0, detail: UNREACHABLE });
  });

  it("send path and query parameters where the schema puts them", async () => {
    const server = fakeServer((req) =>
      req.method === "DELETE" ? json({ message: "Deleted", job_id: "a b" }) : json({ jobs: [], total: 0 }),
    );
    await expect(deleteJob("a b")).resolves.toEqual({ message: "Deleted", job_id: "a b" });
    await listJobs({ limit: 48, status: ["complete"] });
    expect(server.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["DELETE /api/jobs/a%20b", "GET /api/jobs?limit=48&status=complete"]);
  });

  it("post the images as multipart parts in order, with their names", async () => {
    const server = fakeServer(() => json({ job_id: "j", status: "queued", message: "Queued", queue_position: 1 }, 202));
    const files = ["one.png", "two.png"].map((name) => new File(["x"], name, { type: "image/png" }));
    await submitEdit(files, { prompt: "p", negative_prompt: "", true_cfg_scale: 4, num_inference_steps: 10, seed: 3, output_format: "png", keep_input_size: false, num_images: 1, lightning: false });
    const form = server.calls[0]?.form;
    expect([...(form?.keys() ?? [])]).toEqual(["image1", "image2", "config"]);
    const second = form?.get("image2");
    expect(second instanceof File ? second.name : null).toBe("two.png");
  });
});
