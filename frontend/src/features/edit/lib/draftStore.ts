/**
 * The form as last left (images, prompt, settings), kept in IndexedDB so a reload brings it back. Images
 * are stored as Blobs (localStorage would need base64 and has ~5 MB); without IndexedDB nothing is kept.
 */
import type { FormValues } from "./validation";

export interface Draft {
  values: Partial<FormValues> | null;
  images: { name: string; type: string; blob: Blob }[];
  /** The region painted on image 1 (issue 20), as its mask PNG; absent or null without one. */
  mask?: Blob | null;
}

function isDraft(x: unknown): x is Draft {
  return (
    typeof x === "object" &&
    x !== null &&
    "images" in x &&
    Array.isArray(x.images) &&
    x.images.every((img: unknown) => typeof img === "object" && img !== null && "blob" in img && img.blob instanceof Blob)
  );
}

const DB = "qie";
const STORE = "draft";
const KEY = "current";

function open(): Promise<IDBDatabase> | null {
  if (typeof indexedDB === "undefined") return null;
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB refused"));
  });
}

async function run<T>(mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest<T>): Promise<T | undefined> {
  const opening = open();
  if (!opening) return undefined;
  const db = await opening;
  try {
    return await new Promise<T>((resolve, reject) => {
      const request = act(db.transaction(STORE, mode).objectStore(STORE));
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error("IndexedDB refused"));
    });
  } finally {
    db.close();
  }
}

export async function loadDraft(): Promise<Draft | null> {
  try {
    const draft: unknown = await run("readonly", (store) => store.get(KEY));
    return isDraft(draft) ? draft : null;
  } catch {
    return null;
  }
}

export async function saveDraft(draft: Draft): Promise<void> {
  try {
    await run("readwrite", (store) => store.put(draft, KEY));
  } catch {
    // Private mode or storage full: the draft is a convenience, the page works without it.
  }
}

/** After signing out: the next one to sign in here has no business with the last one's draft. */
export async function clearDraft(): Promise<void> {
  try {
    await run("readwrite", (store) => store.delete(KEY));
  } catch {
    // nothing was kept
  }
}
