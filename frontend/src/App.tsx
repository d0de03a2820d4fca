/**
 * The page: the header, then either the sign-in (the server needs a key and this browser has no session)
 * or the editor. Signing in, signing out and a session that ends switch between them.
 */
import { Editor } from "./Editor";
import { ServerHeader } from "./components/ServerHeader";
import { SignInPanel } from "./components/SignInPanel";
import { Card } from "./components/ui";
import { useActivity } from "./hooks/useActivity";
import { useFinishNotifications } from "./hooks/usePageSignals";
import { useHealth } from "./hooks/useServerStatus";
import { useSession } from "./hooks/useSession";

export function App() {
  const { health, healthError, healthAt } = useHealth();
  const session = useSession();
  const open = session.gate === "open";
  const notifications = useFinishNotifications();
  // The caller's queue, live (for the strip and the header's count); only once the server lets us in.
  const activity = useActivity(open, notifications.notify);
  const offline = healthError !== null || (open && activity.state === "down");

  return (
    <div className="min-h-dvh">
      <ServerHeader
        health={health}
        healthError={healthError}
        offline={offline}
        queueLength={activity.queueLength}
        account={open ? session.account : null}
        onSignOut={() => void session.signOut()}
        signingOut={session.signingOut}
        signOutError={session.signOutError}
      />
      {session.gate === "sign-in" ? (
        <SignInPanel onSignIn={session.signIn} notice={session.notice} />
      ) : open ? (
        <Editor healthError={healthError} offline={offline} onlineAt={healthAt} activity={activity} notifications={notifications} />
      ) : (
        <main className="mx-auto max-w-md px-4 py-10">
          <Card>
            <p className="py-10 text-center text-sm text-zinc-600 dark:text-zinc-400" role="status">
              {healthError ? "Waiting for the server…" : "Loading…"}
            </p>
          </Card>
        </main>
      )}
      {health && (
        <footer data-testid="model-footer" className="mx-auto max-w-7xl px-4 pb-6 text-xs text-zinc-600 dark:text-zinc-400">
          Model <span className="font-medium text-zinc-800 dark:text-zinc-200">{health.model}</span>
          {health.license && (
            <>
              {" "}· released under the{" "}
              <a
                data-testid="license"
                href={health.license.url}
                target="_blank"
                rel="noreferrer"
                className="font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-600 dark:text-indigo-300 dark:hover:text-indigo-200"
              >
                {health.license.name}
              </a>
            </>
          )}
        </footer>
      )}
    </div>
  );
}
