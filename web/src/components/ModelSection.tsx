import { useEffect, useRef, useState } from 'react';
import { fetchShelf, modelText, rollbackModel, rollbackText, uploadModel, uploadProblem, type ModelShelf } from '../lib/models';

interface Props {
  /** the last outcome of an operator action, to show at the top of the panel */
  onNote: (n: { text: string; error: boolean } | null) => void;
}

/**
 * The counting model: which one runs, uploading a fine-tuned one (models/finetune.py), rolling
 * back, and the annotated frames to fine-tune with. The box checks an upload before it switches;
 * a refused one changes nothing.
 */
export function ModelSection({ onNote }: Props) {
  const [shelf, setShelf] = useState<ModelShelf | null>(null);
  const [busy, setBusy] = useState<null | 'upload' | 'rollback'>(null);
  const [confirm, setConfirm] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  useEffect(() => {
    fetchShelf()
      .then(setShelf)
      .catch(() => setShelf(null));
  }, []);

  useEffect(() => {
    if (!confirm) return;
    const id = setTimeout(() => setConfirm(false), 4000);
    return () => clearTimeout(id);
  }, [confirm]);

  const upload = async (file: File | undefined) => {
    if (!file) return;
    const problem = uploadProblem(file, shelf?.max_upload_bytes ?? 0);
    if (problem) {
      onNote({ text: problem, error: true });
      return;
    }
    setBusy('upload');
    onNote({ text: `Checking ${file.name} on the box…`, error: false });
    try {
      const s = await uploadModel(file);
      setShelf(s);
      onNote({ text: `Now counting with ${s.current?.name ?? file.name}.`, error: false });
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
      if (input.current) input.current.value = '';
    }
  };

  const rollback = async () => {
    if (!confirm) {
      setConfirm(true);
      return;
    }
    setConfirm(false);
    setBusy('rollback');
    try {
      const s = await rollbackModel();
      setShelf(s);
      onNote({ text: `Now counting with ${s.current ? s.current.name : 'the configured model'}.`, error: false });
    } catch (e) {
      onNote({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(null);
    }
  };

  const back = shelf ? rollbackText(shelf) : null;
  return (
    <>
      <h3>Counting model</h3>
      <p className="small" data-testid="model-text">
        {shelf ? modelText(shelf) : 'The box did not say which model runs.'}
      </p>
      <div className="op-actions">
        <label className={busy ? 'button disabled' : 'button'}>
          {busy === 'upload' ? 'Checking…' : 'Upload model (.onnx)'}
          <input ref={input} type="file" accept=".onnx" className="sr-only" disabled={busy !== null} onChange={(e) => upload(e.target.files?.[0])} data-testid="model-file" />
        </label>
        {back && (
          <button type="button" onClick={rollback} disabled={busy !== null} className={confirm ? 'danger' : undefined} data-testid="model-rollback">
            {busy === 'rollback' ? 'Switching…' : confirm ? 'Tap again to switch' : back}
          </button>
        )}
      </div>
      <p className="muted small">
        Frames you calibrated on are kept with your taps:{' '}
        <a href="/api/operator/annotations.tar" download data-testid="annotations-download">
          download them
        </a>{' '}
        to fine-tune a model for your footage (models/finetune.py), then upload it here.
      </p>
    </>
  );
}
