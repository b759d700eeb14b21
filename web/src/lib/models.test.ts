import { describe, expect, it } from 'vitest';
import { modelText, parseShelf, rollbackText, uploadModel, uploadProblem } from './models';

const entry = { file: 'ab.onnx', name: 'market', sha256: 'ab', bytes: 65_000_000, added_ms: 1, analysis_scale: 0.5 };

describe('the model shelf', () => {
  it('parses the daemon answer and says what runs and what a rollback does', () => {
    const s = parseShelf({ current: entry, previous: null, configured_path: '/usr/share/skycount/models/csrnet.onnx', max_upload_bytes: 268435456 });
    expect(s).not.toBeNull();
    expect(modelText(s!)).toBe('market (uploaded, 65 MB, counts at scale 0.50 unless calibrated).');
    expect(rollbackText(s!)).toBe('Back to the configured model');
    const none = parseShelf({ current: null, previous: null, configured_path: '/m/csrnet.onnx', max_upload_bytes: 1 });
    expect(modelText(none!)).toBe('The configured model (csrnet.onnx).');
    expect(rollbackText(none!)).toBeNull();
    const back = parseShelf({ current: null, previous: entry, configured_path: '/m/csrnet.onnx', max_upload_bytes: 1 });
    expect(rollbackText(back!)).toBe('Back to market');
    expect(parseShelf({ current: entry })).toBeNull();
  });

  it('refuses files the box would refuse before sending them', () => {
    expect(uploadProblem({ name: 'a.onnx', size: 10 }, 100)).toBeNull();
    expect(uploadProblem({ name: 'a.jpg', size: 10 }, 100)).toMatch(/not an \.onnx/);
    expect(uploadProblem({ name: 'a.onnx', size: 0 }, 100)).toMatch(/empty/);
    expect(uploadProblem({ name: 'a.onnx', size: 300e6 }, 268435456)).toMatch(/up to 268 MB/);
  });

  it('sends the file as the body and words a refusal with the box reason', async () => {
    const seen: { url: string; init?: RequestInit }[] = [];
    const refuse: typeof fetch = async (url, init) => {
      seen.push({ url: String(url), init });
      return new Response(JSON.stringify({ error: 'the uploaded model was refused: not a model' }), { status: 422 });
    };
    const file = Object.assign(new Blob(['x']), { name: 'my model.onnx' });
    await expect(uploadModel(file, refuse)).rejects.toThrow('the uploaded model was refused: not a model');
    expect(seen[0].url).toBe('/api/operator/model?name=my%20model.onnx');
    expect(seen[0].init?.method).toBe('PUT');
    expect(seen[0].init?.body).toBe(file);
  });
});
