/**
 * Who this browser is to the server, and the way in and out. The session is read once; signing in and
 * out write the answer into the cache. A 401 from any route (or a socket closed with 1008) means the
 * session ended: everything read with it is forgotten and the page asks for the key again.
 *
 * The key itself is never kept: it is sent once, as the argument of `signIn`, and not stored in state,
 * the query cache (no mutation, whose variables would hold it), storage or a URL.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useState } from "react";
import { errorMessage, onUnauthorised } from "../../../api/client";
import { signIn as postSession, signOut as deleteSession } from "../api/session";
import type { Session } from "../../../api/types";
import { clearDraft } from "../../edit/lib/draftStore";
import { forgetCurrentJob } from "../../job/hooks/useCurrentJob";
import { clearServerState, sessionQuery, signedOut } from "../../../api/queries";

export const SESSION_ENDED = "Your session has ended; sign in again.";
export const KEYS_NOW_REQUIRED = "This server now needs an API key; sign in.";
export const SIGNED_OUT = "You have signed out.";

export type Gate =
  /** Not known yet (or the server cannot be reached yet). */
  | "loading"
  /** The server needs a key and this browser has no session. */
  | "sign-in"
  /** Signed in, or an open server (no key exists). */
  | "open";

export function gateOf(session: Session | undefined): Gate {
  if (!session) return "loading";
  return session.keys_required && !session.signed_in ? "sign-in" : "open";
}

export function useSession() {
  const client = useQueryClient();
  const { data: session } = useQuery(sessionQuery);
  // Why the sign-in is showing (session ended, signed out); tied to nothing on the server.
  const [notice, setNotice] = useState<string | null>(null);
  const [signingOut, setSigningOut] = useState(false);
  const [signOutError, setSignOutError] = useState<string | null>(null);

  useEffect(
    () =>
      onUnauthorised(() => {
        const current = client.getQueryData(sessionQuery.queryKey);
        if (gateOf(current) === "sign-in") return; // already asking (or a late answer from before sign-out)
        clearServerState(client);
        client.setQueryData(sessionQuery.queryKey, signedOut);
        setNotice(current?.keys_required === false ? KEYS_NOW_REQUIRED : SESSION_ENDED);
      }),
    [client],
  );

  /** Resolves once signed in; rejects with the server's ApiError (401 wrong key, 429 too many). */
  const signIn = useCallback(
    async (key: string) => {
      const answer = await postSession(key);
      // Nothing read before (another key's session, say) survives into this one.
      clearServerState(client);
      client.setQueryData(sessionQuery.queryKey, answer);
      setNotice(null);
      setSignOutError(null);
    },
    [client],
  );

  const signOut = useCallback(async () => {
    setSigningOut(true);
    setSignOutError(null);
    try {
      const answer = await deleteSession();
      clearServerState(client);
      forgetCurrentJob();
      void clearDraft();
      client.setQueryData(sessionQuery.queryKey, answer);
      setNotice(SIGNED_OUT);
    } catch (error) {
      // The cookie is HttpOnly: only the server can end the session, so say it did not.
      setSignOutError(`Could not sign out: ${errorMessage(error)}`);
    } finally {
      setSigningOut(false);
    }
  }, [client]);

  return {
    gate: gateOf(session),
    /** The key's name when signed in; null in open mode and before sign-in. */
    account: session?.signed_in && session.name ? { name: session.name, admin: session.admin } : null,
    notice,
    signIn,
    signOut,
    signingOut,
    signOutError,
  };
}
