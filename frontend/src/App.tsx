/**
 * The page: the header, then either the sign-in (the server needs a key and this browser has no session)
 * or the editor. Signing in, signing out and a session that ends switch between them.
 */
import { Editor } from "./Editor";
import { ServerHeader } from "./components/ServerHeader";
import { SignInPanel } from "./components/SignInPanel";
import { Card } from "./components/ui";
import { useHealth } from "./hooks/useServerStatus";
import { useSession } from "./hooks/useSession";

export function App() {
  const { health, healthError } = useHealth();
  const session = useSession();

  return (
    <div className="min-h-dvh">
      <ServerHeader
        health={health}
        healthError={healthError}
        account={session.gate === "open" ? session.account : null}
        onSignOut={() => void session.signOut()}
        signingOut={session.signingOut}
        signOutError={session.signOutError}
      />
      {session.gate === "sign-in" ? (
        <SignInPanel onSignIn={session.signIn} notice={session.notice} />
      ) : session.gate === "open" ? (
        <Editor healthError={healthError} />
      ) : (
        <main className="mx-auto max-w-md px-4 py-10">
          <Card>
            <p className="py-10 text-center text-sm text-zinc-500" role="status">
              {healthError ? "Waiting for the server…" : "Loading…"}
            </p>
          </Card>
        </main>
      )}
    </div>
  );
}
