import { cancelDrawing, finishDrawing, MIN_POINTS, undoPoint, type MaskEditor } from '../lib/masks';

interface Props {
  editor: MaskEditor;
  setEditor: (f: (ed: MaskEditor | null) => MaskEditor | null) => void;
  /** shows the list of areas (names, Save) in the operator panel */
  onList: () => void;
}

/** Under the video while the operator draws areas not to count. */
export function MaskToolbar({ editor, setEditor, onList }: Props) {
  const n = editor.drawing?.length ?? 0;
  const upd = (f: (ed: MaskEditor) => MaskEditor) => setEditor((ed) => (ed ? f(ed) : ed));
  return (
    <div className="mask-toolbar" role="toolbar" aria-label="Drawing an area not to count" data-testid="mask-toolbar">
      <span className="operator-tag">Operator</span>
      <span className="mask-toolbar-text" role="status" data-testid="mask-hint">
        {editor.hint ?? (n === 0 ? 'Tap the corners of an area not to count' : `${n} corner${n === 1 ? '' : 's'}`)}
      </span>
      {n === 0 && (
        <button type="button" onClick={onList} data-testid="mask-list-link">
          {editor.dirty ? 'Name and save ↓' : 'Areas ↓'}
        </button>
      )}
      {n > 0 && (
        <>
          <button type="button" onClick={() => upd(undoPoint)} data-testid="mask-undo">
            Undo
          </button>
          <button type="button" onClick={() => upd(cancelDrawing)} data-testid="mask-cancel">
            Cancel
          </button>
          <button type="button" className="primary" disabled={n < MIN_POINTS} onClick={() => upd(finishDrawing)} data-testid="mask-done">
            Done
          </button>
        </>
      )}
    </div>
  );
}
