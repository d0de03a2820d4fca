/** Dragging one of this server's images (a result, a history picture) onto the drop zone, as a new input. */
import type { DragEvent } from "react";

/** The drag payload that the drop zone takes as an input image (a URL of one of this server's files). */
export const IMAGE_URL_TYPE = "application/x-qie-image-url";

export function dragImageUrl(event: DragEvent, url: string): void {
  event.dataTransfer.setData(IMAGE_URL_TYPE, url);
  event.dataTransfer.setData("text/uri-list", new URL(url, window.location.href).href);
  event.dataTransfer.effectAllowed = "copy";
}
