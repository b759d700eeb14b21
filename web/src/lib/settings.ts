// Viewer preferences kept in localStorage (per browser), validated on load.

export type Theme = 'sun' | 'night';

export interface Settings {
  heatmapOn: boolean;
  /** heatmap layer opacity 0.1..1 */
  opacity: number;
  /** trend chart window, minutes */
  windowMin: number;
  theme: Theme;
}

export const WINDOW_CHOICES = [2, 5, 15] as const;

export const DEFAULT_SETTINGS: Settings = { heatmapOn: true, opacity: 0.7, windowMin: 5, theme: 'sun' };

const KEY = 'skycount.settings.v1';

export function sanitizeSettings(v: unknown): Settings {
  const s = { ...DEFAULT_SETTINGS };
  if (typeof v !== 'object' || v === null) return s;
  const o = v as Record<string, unknown>;
  if (typeof o.heatmapOn === 'boolean') s.heatmapOn = o.heatmapOn;
  if (typeof o.opacity === 'number' && Number.isFinite(o.opacity)) s.opacity = Math.min(1, Math.max(0.1, o.opacity));
  if (typeof o.windowMin === 'number' && (WINDOW_CHOICES as readonly number[]).includes(o.windowMin)) s.windowMin = o.windowMin;
  if (o.theme === 'sun' || o.theme === 'night') s.theme = o.theme;
  return s;
}

export function loadSettings(): Settings {
  try {
    return sanitizeSettings(JSON.parse(localStorage.getItem(KEY) ?? 'null'));
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}

export function saveSettings(s: Settings): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    /* private mode or full: preferences just do not persist */
  }
}
