// Reading JSON the daemon sent, field by field: each helper gives the value when it has the
// expected type and null (or an empty list) when it does not, so a parser never throws on a
// daemon older or newer than the dashboard.

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
export const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
