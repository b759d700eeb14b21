// The night theme, set before the dashboard renders (its first import), so that a dark screen
// does not flash white. It was an inline script in index.html; the daemon's Content-Security-
// Policy allows scripts from the box's own files only.
try {
  const s = JSON.parse(localStorage.getItem('skycount.settings.v1') || 'null');
  if (s && s.theme === 'night') document.documentElement.dataset.theme = 'night';
} catch {
  // No storage (private mode) or a broken value: the day theme.
}
export {};
