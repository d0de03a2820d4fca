import type { Limits } from "../api/types";

/** The model's name and its license, linked: the limits' release name in the editor, health's model elsewhere. */
export function ModelFooter({ name, license, className = "" }: { name: string; license: Limits["license"] | null | undefined; className?: string }) {
  return (
    <footer data-testid="model-footer" className={`text-xs text-zinc-600 dark:text-zinc-400 ${className}`}>
      Model <span className="font-medium text-zinc-800 dark:text-zinc-200">{name}</span>
      {license && (
        <>
          {" "}· released under the{" "}
          <a
            data-testid="license"
            href={license.url}
            target="_blank"
            rel="noreferrer"
            className="font-medium text-indigo-700 underline underline-offset-2 hover:text-indigo-600 dark:text-indigo-300 dark:hover:text-indigo-200"
          >
            {license.name}
          </a>
        </>
      )}
    </footer>
  );
}
