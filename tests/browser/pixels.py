"""Reading the overlay's pixels in a page: what the browser tests check colours with."""

_PIXEL_AT = """([x, y]) => {
  const [cx, cy] = window.%s.toScreen(x, y);
  for (const canvas of [...document.querySelectorAll('.annotation-layer')].reverse()) {
    const rect = canvas.getBoundingClientRect();
    const scale = canvas.width / rect.width;
    const data = canvas.getContext('2d').getImageData(
      Math.round((cx - rect.left) * scale), Math.round((cy - rect.top) * scale), 1, 1).data;
    if (data[3] > 0) return [...data];
  }
  return [0, 0, 0, 0];
}"""


def pixel_at_script(source: str) -> str:
    """A page script taking [x, y] (level-0 slide pixels) and giving the RGBA of the topmost
    annotation canvas there, [0, 0, 0, 0] where none is painted; ``source`` is the page's
    global with ``toScreen`` (wsi2mlEditor, wsi2mlLayers)."""
    return _PIXEL_AT % source
