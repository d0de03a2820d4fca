/** The web page's sign-in: a key is sent once and traded for an HttpOnly session cookie the page never sees. */
import { api, unwrap } from "../../../api/client";
import type { Session } from "../../../api/types";

/** GET /api/session: does the server need a key, and is this browser signed in (as whom). */
export const getSession = (signal?: AbortSignal): Promise<Session> => unwrap(api.GET("/api/session", { signal }));

/** POST /api/session: 401 for a wrong key, 429 (with Retry-After) after too many. */
export const signIn = (key: string): Promise<Session> => unwrap(api.POST("/api/session", { body: { key } }));

/** DELETE /api/session: ends this browser's session; the key itself stays valid. */
export const signOut = (): Promise<Session> => unwrap(api.DELETE("/api/session"));
