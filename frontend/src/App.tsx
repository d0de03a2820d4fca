/**
 * The page: the header, then either the sign-in (the server needs a key and this browser has no session)
 * or the editor. Signing in, signing out and a session that ends switch between them.
 */
import { Editor } from "./Editor";
import { ServerHeader } from "./components/ServerHeader";
import { SignInPanel } from "./features/session/components/SignInPanel";
import { ModelFooter } from "./components/ModelFooter";
import { Card } from "./components/ui";
import { useActivity } from "./features/queue/hooks/useActivity";
import { useFinishNotifications } from "./hooks/usePageSignals";
import { useHealth } from "./hooks/useServerStatus";
import { useSession } from "./features/session/hooks/useSession";

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
      {/* The editor names the model's release from its limits; until then (and signed out), health's model. */}
      {!open && health && <ModelFooter name={health.model} license={health.license} className="mx-auto max-w-7xl px-4 pb-6" />}
    </div>
  );
}
