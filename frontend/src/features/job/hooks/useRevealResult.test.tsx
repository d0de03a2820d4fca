import { act, render } from "@testing-library/react";
import { useRef } from "react";
import { describe, expect, it, vi } from "vitest";
import { useRevealResult } from "./useRevealResult";

function Page({ top, onReady }: { top: number; onReady: (reveal: () => void) => void }) {
  const ref = useRef<HTMLElement>(null);
  onReady(useRevealResult(ref));
  return <section ref={ref} data-top={top} />;
}

function setup(top: number) {
  const scroll = vi.fn();
  let reveal = () => {};
  const { container } = render(<Page top={top} onReady={(r) => (reveal = r)} />);
  const section = container.querySelector("section")!;
  section.getBoundingClientRect = () => DOMRect.fromRect({ x: 0, y: top, width: 390, height: 400 });
  section.scrollIntoView = scroll;
  return { scroll, reveal: () => act(() => reveal()) };
}

describe("useRevealResult", () => {
  it("scrolls the result area into view when it is below the form (a phone)", () => {
    const { scroll, reveal } = setup(1205);
    expect(scroll).not.toHaveBeenCalled();
    reveal();
    expect(scroll).toHaveBeenCalledWith(expect.objectContaining({ block: "start" }));
  });

  it("leaves the page alone when the area's top is already on screen (beside the form)", () => {
    const { scroll, reveal } = setup(150);
    reveal();
    expect(scroll).not.toHaveBeenCalled();
  });
});
