// Areas not counted (masks): polygons drawn with the shared editor of ./shapes. At most 32.

import type { Mask } from './api';
import { roundPoints, shapeProblems, type ShapeEditor, type ShapeKind } from './shapes';

export const MAX_MASKS = 32;

export const MASKS: ShapeKind<Mask> = { id: 'mask', noun: 'area', max: MAX_MASKS, make: (name, points) => ({ name, points }) };

export type MaskEditor = ShapeEditor<Mask>;

/** What the daemon would refuse, in words; [] when the masks can be saved. */
export const maskProblems = (masks: readonly Mask[]): string[] => shapeProblems(MASKS, masks);

/** The PUT body: names trimmed, fractions rounded. */
export function masksBody(masks: readonly Mask[]): { masks: Mask[] } {
  return { masks: masks.map((m) => ({ name: m.name.trim(), points: roundPoints(m.points) })) };
}

export const sameMasks = (a: readonly Mask[], b: readonly Mask[]): boolean => JSON.stringify(masksBody(a)) === JSON.stringify(masksBody(b));
