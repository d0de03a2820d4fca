import { fireEvent, render } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { keyBelongsTo, useViewerKeys, type KeyMap } from "./useViewerKeys";

function Viewer({ keys }: { keys: KeyMap }) {
  const [root, setRoot] = useState<HTMLElement | null>(null);
  useViewerKeys(root, keys);
  return (
    <div>
      <div ref={setRoot}>
        <input type="range" aria-label="split" />
        <button type="button">inside</button>
      </div>
      <textarea aria-label="prompt" />
      <button type="button">elsewhere</button>
    </div>
  );
}

describe("useViewerKeys", () => {
  it("acts on the page and inside the viewer, never while typing or on another control", () => {
    const one = vi.fn();
    const left = vi.fn();
    const { getByLabelText, getByText } = render(<Viewer keys={{ "1": one, ArrowLeft: left }} />);
    fireEvent.keyDown(document.body, { key: "1" });
    fireEvent.keyDown(getByText("inside"), { key: "ArrowLeft" });
    expect(one).toHaveBeenCalledOnce();
    expect(left).toHaveBeenCalledOnce();

    fireEvent.keyDown(getByLabelText("prompt"), { key: "1" }); // typing
    fireEvent.keyDown(getByText("elsewhere"), { key: "1" }); // another part of the page
    fireEvent.keyDown(getByLabelText("split"), { key: "ArrowLeft" }); // the slider moves its divider
    fireEvent.keyDown(document.body, { key: "1", ctrlKey: true }); // a browser shortcut
    expect(one).toHaveBeenCalledOnce();
    expect(left).toHaveBeenCalledOnce();

    fireEvent.keyDown(getByLabelText("split"), { key: "1" }); // a digit means nothing to a slider
    expect(one).toHaveBeenCalledTimes(2);
  });

  it("knows which controls keep which keys", () => {
    const text = document.createElement("input");
    const select = document.createElement("select");
    expect(keyBelongsTo(text, "1")).toBe(true);
    expect(keyBelongsTo(select, "ArrowRight")).toBe(true);
    expect(keyBelongsTo(document.createElement("button"), "ArrowRight")).toBe(false);
  });
});
