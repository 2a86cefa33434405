// attnlab heatmap: the one colour table ("Blues") and the one way to paint a matrix with it.
// The web lab loads this file (/static/heatmap.js) and save_html inlines it before
// attention.js; both read it as `attnlabHeatmap`. Python reads BLUES from this file too
// (viz/html.py: blues_table), so the table is written down once.
//
//   const picture = attnlabHeatmap.image(T, S, (i, j) => attnlabHeatmap.shade(w[i][j]));
//   attnlabHeatmap.draw(ctx, picture, left, top, S * cell, T * cell);  // one rectangle per weight
var attnlabHeatmap = (function () {
  "use strict";
  // weight 0 -> the first colour (near white), weight 1 -> the second (dark blue), linear between
  const BLUES = [[247, 251, 255], [8, 48, 107]];
  const SHADES = 256;  // a painted matrix has this many shades; shade s stands for s / 255

  /** The colour of weight x (clipped to [0, 1]) as [r, g, b], unrounded: blues(0.5) ≈ [127.5, 149.5, 181]. */
  function blues(x) {
    const v = Math.max(0, Math.min(1, x));
    const [low, high] = BLUES;
    return low.map((c, k) => c + (high[k] - c) * v);
  }

  const css = (rgb) => `rgb(${rgb.map(Math.round).join(",")})`;

  // shade s -> its colour at TABLE[3s], TABLE[3s + 1], TABLE[3s + 2]
  const TABLE = new Uint8ClampedArray(SHADES * 3);
  for (let s = 0; s < SHADES; s++) TABLE.set(blues(s / (SHADES - 1)), 3 * s);

  /** The shade (0..255) of weight w in [0, 1]. */
  const shade = (w) => Math.round(Math.max(0, Math.min(1, w)) * (SHADES - 1));

  /** A rows × cols canvas, one pixel per weight: pixel (i, j) has colour shadeAt(i, j). */
  function image(rows, cols, shadeAt) {
    const canvas = document.createElement("canvas");
    canvas.width = cols; canvas.height = rows;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(cols, rows);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      const p = 4 * (i * cols + j), s = 3 * shadeAt(i, j);
      img.data[p] = TABLE[s]; img.data[p + 1] = TABLE[s + 1]; img.data[p + 2] = TABLE[s + 2];
      img.data[p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  }

  /** Draw `picture` (from image) into the rectangle, every weight a sharp block (no smoothing). */
  function draw(ctx, picture, x, y, width, height) {
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(picture, x, y, width, height);
  }

  return { BLUES, blues, css, shade, image, draw };
})();
