import { cancelDrawing, finishDrawing, MIN_POINTS, undoPoint, type Shape, type ShapeEditor } from '../lib/shapes';

interface Props<S extends Shape> {
  editor: ShapeEditor<S>;
  setEditor: (f: (ed: ShapeEditor<S> | null) => ShapeEditor<S> | null) => void;
  /** shows the list (names, Save) in the operator panel */
  onList: () => void;
}

/** Under the video while the operator draws areas not to count, or zones. */
export function ShapeToolbar<S extends Shape>({ editor, setEditor, onList }: Props<S>) {
  const n = editor.drawing?.length ?? 0;
  const { id, noun } = editor.kind;
  const what = noun === 'area' ? 'an area not to count' : `a ${noun}`;
  const upd = (f: (ed: ShapeEditor<S>) => ShapeEditor<S>) => setEditor((ed) => (ed ? f(ed) : ed));
  return (
    <div className="shape-toolbar" role="toolbar" aria-label={`Drawing ${what}`} data-testid={`${id}-toolbar`}>
      <span className="operator-tag">Operator</span>
      <span className="shape-toolbar-text" role="status" data-testid={`${id}-hint`}>
        {editor.hint ?? (n === 0 ? `Tap the corners of ${what}` : `${n} corner${n === 1 ? '' : 's'}`)}
      </span>
      {n === 0 && (
        <button type="button" onClick={onList} data-testid={`${id}-list-link`}>
          {editor.dirty ? 'Name and save ↓' : `${noun.charAt(0).toUpperCase()}${noun.slice(1)}s ↓`}
        </button>
      )}
      {n > 0 && (
        <>
          <button type="button" onClick={() => upd(undoPoint)} data-testid={`${id}-undo`}>
            Undo
          </button>
          <button type="button" onClick={() => upd(cancelDrawing)} data-testid={`${id}-cancel`}>
            Cancel
          </button>
          <button type="button" className="primary" disabled={n < MIN_POINTS} onClick={() => upd(finishDrawing)} data-testid={`${id}-done`}>
            Done
          </button>
        </>
      )}
    </div>
  );
}
