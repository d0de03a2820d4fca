import { act, fireEvent, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { useZoomPan, type ZoomPan } from "./useZoomPan";

const VIEWPORT = { width: 800, height: 400 };
const IMAGE = { width: 1600, height: 800 };

let zoom: ZoomPan;
const keep = (latest: ZoomPan) => (zoom = latest);

function Viewer({ onRender }: { onRender: (latest: ZoomPan) => void }) {
  const current = useZoomPan(IMAGE);
  onRender(current);
  const { setViewport, handlers } = current;
  const attach = (element: HTMLDivElement | null) => {
    if (element) {
      Object.defineProperty(element, "clientWidth", { value: VIEWPORT.width, configurable: true });
      Object.defineProperty(element, "clientHeight", { value: VIEWPORT.height, configurable: true });
      element.getBoundingClientRect = () => DOMRect.fromRect({ x: 0, y: 0, ...VIEWPORT });
    }
    setViewport(element);
  };
  return <div ref={attach} data-testid="viewport" {...handlers} />;
}

const pointer = (id: number, x: number, y: number) => ({ pointerId: id, clientX: x, clientY: y, button: 0, pointerType: "touch" });
/** The image point (in pixels) drawn at viewport point (x, y). */
const under = (x: number, y: number) => [(x - zoom.view.x) / zoom.view.scale, (y - zoom.view.y) / zoom.view.scale];

describe("useZoomPan", () => {
  it("fits at first, then the wheel zooms around the pointer", () => {
    render(<Viewer onRender={keep} />);
    expect(zoom.fitted).toBe(true);
    expect(zoom.view.scale).toBe(0.5);
    const before = under(600, 100);
    fireEvent.wheel(screen.getByTestId("viewport"), { deltaY: -200, clientX: 600, clientY: 100 });
    expect(zoom.fitted).toBe(false);
    expect(zoom.view.scale).toBeGreaterThan(0.5);
    const after = under(600, 100);
    expect(after[0]).toBeCloseTo(before[0]!);
    expect(after[1]).toBeCloseTo(before[1]!);
  });

  it("pans with a drag, and pinches with two fingers", () => {
    render(<Viewer onRender={keep} />);
    act(() => zoom.toActual());
    expect(zoom.actual).toBe(true);
    const start = { ...zoom.view };
    const viewport = screen.getByTestId("viewport");
    fireEvent.pointerDown(viewport, pointer(1, 400, 200));
    fireEvent.pointerMove(viewport, pointer(1, 350, 170));
    fireEvent.pointerUp(viewport, pointer(1, 350, 170));
    expect(zoom.view.x).toBe(start.x - 50);
    expect(zoom.view.y).toBe(start.y - 30);

    // Two fingers 100 px apart spread to 200 px: twice the scale, the point between them kept.
    const between = under(400, 200);
    const [left, right] = [under(350, 200), under(450, 200)];
    fireEvent.pointerDown(viewport, pointer(1, 350, 200));
    fireEvent.pointerDown(viewport, pointer(2, 450, 200));
    fireEvent.pointerMove(viewport, pointer(2, 500, 200));
    fireEvent.pointerMove(viewport, pointer(1, 300, 200));
    expect(zoom.view.scale).toBeCloseTo(2);
    expect(under(400, 200)[0]).toBeCloseTo(between[0]!);
    // Each finger still holds the image point it put down on.
    expect(under(300, 200)[0]).toBeCloseTo(left[0]!);
    expect(under(500, 200)[0]).toBeCloseTo(right[0]!);
  });

  it("goes to 100 % on a double-click and back to fit on another", () => {
    render(<Viewer onRender={keep} />);
    const viewport = screen.getByTestId("viewport");
    fireEvent.doubleClick(viewport, { clientX: 100, clientY: 100 });
    expect(zoom.actual).toBe(true);
    fireEvent.doubleClick(viewport, { clientX: 100, clientY: 100 });
    expect(zoom.fitted).toBe(true);
  });
});
