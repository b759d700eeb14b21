import { describe, expect, it } from 'vitest';
import { parseCalibration, parseMasks, parseZones } from './api';
import { droneName, parseStreams as parseWith, snapshotUrl, stripOf, watchedOther } from './streams';

const parseStreams = (v: unknown) => parseWith(v, { calibration: parseCalibration, masks: parseMasks, zones: parseZones });

const stream = (over: Record<string, unknown>) => ({
  stream: 'live_drone',
  path: 'live/drone',
  configured: true,
  state: 'live',
  reason: null,
  count: 100,
  smoothed: 98,
  band: [80, 120],
  analysed_ms: 1,
  analyses: 5,
  demo: false,
  ...over,
});

describe('streams', () => {
  it('parses what the daemon sends and skips what it cannot read', () => {
    const s = parseStreams([stream({}), { stream: 3 }, 'x', stream({ stream: 'live_north', band: [1] })]);
    expect(s).toHaveLength(2);
    expect(s[0].band).toEqual([80, 120]);
    expect(s[1].band).toBeNull();
    expect(parseStreams(undefined)).toEqual([]);
  });

  it("a drone's name: the operator's, else its path's last part", () => {
    const [drone, north] = parseStreams([stream({}), stream({ stream: 'live_north', path: 'live/north', configured: false, name: 'North gate' })]);
    expect(droneName(drone)).toBe('drone');
    expect(droneName(north)).toBe('North gate');
    expect(stripOf([drone, north])?.items.map((i) => i.name)).toEqual(['drone', 'North gate']);
  });

  it("carries each drone's own masks and zones (an older daemon sends none)", () => {
    const [drone, north] = parseStreams([
      stream({}),
      stream({ stream: 'live_north', configured: false, masks: [{ name: 'roof', points: [[0, 0], [1, 0], [1, 1]] }], zones: 'x' }),
    ]);
    expect(drone.masks).toEqual([]);
    expect(drone.calibration).toBeNull();
    expect(north.masks.map((m) => m.name)).toEqual(['roof']);
    expect(north.zones).toEqual([]);
  });

  it('one drone: no strip, the dashboard looks as it always did', () => {
    expect(stripOf(parseStreams([stream({})]))).toBeNull();
    expect(stripOf([])).toBeNull();
  });

  it('several drones: each with its count and band, a refused one said so, the sum warned', () => {
    const strip = stripOf(
      parseStreams([
        stream({}),
        stream({ stream: 'live_north', path: 'live/north', configured: false, smoothed: 52, band: [40, 70] }),
        stream({ stream: 'live_park', path: 'live/park', configured: false, state: 'refused', smoothed: null, band: null, reason: 'max' }),
      ]),
    );
    expect(strip).not.toBeNull();
    expect(strip!.items.map((i) => [i.name, i.value, i.band])).toEqual([
      ['drone', '≈ 98', '80–120'],
      ['north', '≈ 52', '40–70'],
      ['park', 'not counted', null],
    ]);
    expect(strip!.items[2].note).toBe('max');
    expect(strip!.sum?.value).toBe('≈ 150');
    expect(strip!.sum?.band).toBe('120–190');
    expect(strip!.sum?.warning).toMatch(/may overlap/);
  });

  it('no sum unless two drones are live, and the demo recording is never summed', () => {
    const ended = stripOf(parseStreams([stream({}), stream({ stream: 'live_north', path: 'live/north', configured: false, state: 'ended' })]));
    expect(ended!.sum).toBeNull();
    expect(ended!.items[1].value).toBe('ended');
    const demo = stripOf(parseStreams([stream({ demo: true }), stream({ stream: 'live_north', path: 'live/north', configured: false })]));
    expect(demo!.sum).toBeNull();
  });

  it('names a drone by its path, else by its stream', () => {
    expect(droneName({ path: 'live/north', stream: 'live_north' })).toBe('north');
    expect(droneName({ path: null, stream: 'demo' })).toBe('demo');
  });

  it('watches another drone only while it is analysed', () => {
    const streams = parseStreams([
      stream({}),
      stream({ stream: 'live_north', path: 'live/north', configured: false }),
      stream({ stream: 'live_park', path: 'live/park', configured: false, state: 'refused' }),
    ]);
    expect(watchedOther(streams, 'live_north')?.stream).toBe('live_north');
    expect(watchedOther(streams, 'live_park')).toBeNull();
    expect(watchedOther(streams, 'live_drone')).toBeNull();
    expect(watchedOther(streams, 'gone')).toBeNull();
    expect(watchedOther(streams, null)).toBeNull();
  });

  it("asks for the watched drone's last analysed frame", () => {
    expect(snapshotUrl('/api/snapshot.jpg', null)).toBe('/api/snapshot.jpg');
    expect(snapshotUrl('/api/snapshot.jpg', 'live_north')).toBe('/api/snapshot.jpg?stream=live_north');
  });
});
