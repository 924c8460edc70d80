// Runs `fn` now and then every `intervalMs` while the tab is visible; no overlapping calls.
// Returns a stop function (call it from the component's cleanup).
export function poll(fn: () => Promise<void>, intervalMs: number): () => void {
  let stopped = false;
  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (stopped) return;
    if (!running && document.visibilityState !== 'hidden') {
      running = true;
      try {
        await fn();
      } finally {
        running = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  const onVisible = () => {
    if (document.visibilityState === 'visible' && !running) {
      clearTimeout(timer);
      void tick();
    }
  };
  document.addEventListener('visibilitychange', onVisible);
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}
