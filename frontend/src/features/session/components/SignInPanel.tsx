/**
 * Asks for an API key, once per session. The key lives in this form's input only until it is sent;
 * the server answers with an HttpOnly cookie, so the page never holds it afterwards.
 */
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { errorMessage } from "../../../api/client";
import { Button, Card, inputClass } from "../../../components/ui";

interface Props {
  /** Resolves when signed in; rejects with the server's message (wrong key, too many tries). */
  onSignIn: (key: string) => Promise<void>;
  /** Why the page asks (again): the session ended, the user signed out. */
  notice: string | null;
}

export function SignInPanel({ onSignIn, notice }: Props) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const ids = { title: useId(), input: useId(), help: useId(), error: useId() };

  useEffect(() => input.current?.focus(), []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const typed = key.trim();
    if (busy) return;
    if (!typed) {
      setError("Enter an API key.");
      input.current?.focus();
      return;
    }
    // Sent once, then gone from the page: a retry is typed (or pasted) again.
    setKey("");
    setBusy(true);
    setError(null);
    try {
      await onSignIn(typed);
    } catch (failure) {
      setError(errorMessage(failure));
      setBusy(false);
      input.current?.focus();
    }
    // On success this panel unmounts: nothing more to set.
  };

  return (
    <main className="mx-auto flex w-full max-w-md flex-col px-4 py-10 sm:py-16">
      <Card className="p-6">
        <form
          data-testid="sign-in"
          aria-labelledby={ids.title}
          aria-busy={busy}
          onSubmit={(event) => void submit(event)}
          className="space-y-4"
        >
          <div className="space-y-1">
            <h2 id={ids.title} className="text-lg font-semibold">
              Sign in
            </h2>
            <p className="text-sm text-zinc-600 dark:text-zinc-400">This server needs an API key.</p>
          </div>
          {notice && (
            <p
              data-testid="sign-in-notice"
              role="status"
              className="rounded-lg border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-200"
            >
              {notice}
            </p>
          )}
          <div className="space-y-1.5">
            <label htmlFor={ids.input} className="block text-sm font-medium">
              API key
            </label>
            <input
              ref={input}
              id={ids.input}
              data-testid="api-key"
              type="password"
              name="key"
              autoComplete="current-password"
              autoCapitalize="off"
              autoCorrect="off"
              spellCheck={false}
              required
              value={key}
              onChange={(event) => setKey(event.target.value)}
              aria-describedby={error ? `${ids.help} ${ids.error}` : ids.help}
              aria-invalid={error ? true : undefined}
              readOnly={busy}
              className={inputClass}
            />
            <p id={ids.help} className="text-xs text-zinc-600 dark:text-zinc-400">
              The server's operator makes keys with{" "}
              <code className="rounded bg-zinc-100 whitespace-nowrap px-1 py-0.5 font-mono text-zinc-800 dark:bg-zinc-800 dark:text-zinc-200">
                qie keys create NAME
              </code>{" "}
              on the server.
            </p>
          </div>
          {error && (
            <p
              id={ids.error}
              data-testid="sign-in-error"
              role="alert"
              className="rounded-lg border border-red-200 bg-red-50 px-3 py-2 text-sm break-words text-red-800 dark:border-red-900 dark:bg-red-950 dark:text-red-200"
            >
              {error}
            </p>
          )}
          <Button type="submit" variant="primary" data-testid="sign-in-submit" className="w-full" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </Button>
        </form>
      </Card>
    </main>
  );
}
