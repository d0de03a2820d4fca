/** An upload's media type, also for files the browser gives none (HEIC on most desktops). */
import type { Limits } from "../../../api/types";

/** Media types by file extension, for files the browser gives no type (HEIC on most desktops). */
const BY_EXTENSION: Record<string, string> = {
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  tif: "image/tiff",
  tiff: "image/tiff",
  heic: "image/heic",
  heif: "image/heif",
};

/** The file's media type: as the browser says, else guessed from its extension, else "". */
export function mediaTypeOf(file: Pick<File, "name" | "type">): string {
  if (file.type) return file.type;
  const extension = file.name.split(".").pop()?.toLowerCase() ?? "";
  return BY_EXTENSION[extension] ?? "";
}

/** The `accept` attribute of the file picker: the types, plus extensions for those browsers leave untyped. */
export function acceptAttribute(limits: Pick<Limits, "accepted_types">): string {
  const extensions = Object.entries(BY_EXTENSION)
    .filter(([, type]) => limits.accepted_types.includes(type))
    .map(([extension]) => `.${extension}`);
  return [...limits.accepted_types, ...extensions].join(",");
}
