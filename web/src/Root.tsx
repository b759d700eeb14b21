import { useEffect, useState } from 'react';
import { App } from './App';
import { HistoryView } from './components/HistoryView';
import { parseRoute, type HistoryRoute } from './lib/history';

/** The live dashboard, or the history pages (`#/history…`). */
export function Root() {
  const [route, setRoute] = useState<HistoryRoute>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route.view === 'live' ? <App /> : <HistoryView route={route} />;
}
