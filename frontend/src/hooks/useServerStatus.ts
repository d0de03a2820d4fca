/** Health (polled; faster while the model loads) and the form limits (fetched until they arrive). */
import { useEffect, useState } from "react";
import { errorMessage } from "../api/client";
import { getHealth, getLimits } from "../api/system";
import type { Health, Limits } from "../api/types";

const HEALTH_MS = 5_000;
const HEALTH_LOADING_MS = 2_000;
const LIMITS_RETRY_MS = 3_000;

export function useServerStatus() {
  const [health, setHealth] = useState<Health | null>(null);
  const [healthError, setHealthError] = useState<string | null>(null);
  const [limits, setLimits] = useState<Limits | null>(null);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    let stopped = false;
    const tick = async () => {
      let delay = HEALTH_MS;
      try {
        const h = await getHealth();
        if (stopped) return;
        setHealth(h);
        setHealthError(null);
        if (h.model_state === "loading") delay = HEALTH_LOADING_MS;
      } catch (error) {
        if (stopped) return;
        setHealthError(errorMessage(error));
      }
      timer = setTimeout(tick, delay);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    let stopped = false;
    const load = async () => {
      try {
        const l = await getLimits();
        if (!stopped) setLimits(l);
      } catch {
        if (!stopped) timer = setTimeout(load, LIMITS_RETRY_MS);
      }
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  return { health, healthError, limits };
}
