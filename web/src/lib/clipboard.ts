// Copying text for the operator (the pilot's RTMP URL). The box serves plain HTTP on its own
// network, where browsers withhold `navigator.clipboard` (it needs a secure context), so the old
// way (a selected textarea and `document.execCommand('copy')`) is the fallback; when both fail the
// caller says so and the text stays selectable.

export async function copyText(text: string, doc: Document = document): Promise<boolean> {
  try {
    if (globalThis.isSecureContext && navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    /* refused: try the old way */
  }
  const area = doc.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  doc.body.appendChild(area);
  area.select();
  try {
    return doc.execCommand('copy');
  } catch {
    return false;
  } finally {
    area.remove();
  }
}
