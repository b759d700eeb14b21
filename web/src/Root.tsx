import { lazy, Suspense, useEffect, useState } from 'react';
import { App } from './App';
import { parseRoute, type HistoryRoute } from './lib/history';

// The history pages are loaded when first opened: the live dashboard does not wait for them.
const HistoryView = lazy(() => import('./components/HistoryView').then((m) => ({ default: m.HistoryView })));

/** The live dashboard, or the history pages (`#/history…`). */
export function Root() {
  const [route, setRoute] = useState<HistoryRoute>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  if (route.view === 'live') return <App />;
  return (
    <Suspense fallback={<p className="muted">Loading the history…</p>}>
      <HistoryView route={route} />
    </Suspense>
  );
}
