import { describe, expect, it } from "vitest";
import { actualView, clampView, fitView, scaleBounds, zoomAround, zoomPercent } from "./zoom";

const image = { width: 1248, height: 832 };
const viewport = { width: 774, height: 516 };

describe("zoom geometry", () => {
  it("fits the whole picture, centred", () => {
    const view = fitView(image, { width: 800, height: 800 });
    expect(view.scale).toBeCloseTo(800 / 1248);
    expect(view.x).toBeCloseTo(0);
    expect(view.y).toBeCloseTo((800 - 832 * view.scale) / 2);
  });

  it("draws one image pixel per screen pixel at 100 %, on whole screen pixels", () => {
    const fitted = fitView(image, viewport);
    const at100 = actualView(fitted, image, viewport, 1);
    expect(at100.scale).toBe(1);
    expect(Number.isInteger(at100.x) && Number.isInteger(at100.y)).toBe(true);
    // The centre of the picture stays in the centre.
    expect((viewport.width / 2 - at100.x) / at100.scale).toBeCloseTo(image.width / 2, 0);
    expect(zoomPercent(at100, 1)).toBe("100 %");
    // On a 2x screen, 100 % is half as many CSS pixels.
    const retina = actualView(fitted, image, viewport, 2);
    expect(retina.scale).toBe(0.5);
    expect(Number.isInteger(retina.x * 2)).toBe(true);
    expect(zoomPercent(retina, 2)).toBe("100 %");
  });

  it("keeps the image point under the pointer when zooming", () => {
    const view = { scale: 0.5, x: 10, y: 20 };
    const zoomed = zoomAround(view, 2, 300, 200);
    expect((300 - zoomed.x) / zoomed.scale).toBeCloseTo((300 - view.x) / view.scale);
    expect((200 - zoomed.y) / zoomed.scale).toBeCloseTo((200 - view.y) / view.scale);
  });

  it("never pans a zoomed picture off its edges, and centres one smaller than the viewport", () => {
    const panned = clampView({ scale: 2, x: 500, y: -99999 }, image, viewport, 1);
    expect(panned.x).toBe(0);
    expect(panned.y).toBe(viewport.height - image.height * 2);
    const small = clampView({ scale: 0.1, x: 0, y: 0 }, image, viewport, 1);
    expect(small.x).toBeCloseTo((viewport.width - image.width * small.scale) / 2);
  });

  it("bounds the scale between half the fit and 16 screen pixels per pixel", () => {
    const [low, high] = scaleBounds(image, viewport, 1);
    expect(clampView({ scale: 1000, x: 0, y: 0 }, image, viewport, 1).scale).toBe(high);
    expect(high).toBe(16);
    expect(clampView({ scale: 0.0001, x: 0, y: 0 }, image, viewport, 1).scale).toBe(low);
    expect(low).toBeCloseTo(fitView(image, viewport).scale / 2);
  });
});
