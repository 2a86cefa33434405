// attnlab attention view. Inlined into the HTML file; reads the JSON data block, draws two views
// of one head (lines from each query token to the key tokens, and the matrix), and shows a
// token's row of weights on hover. Token strings only ever go through textContent or canvas
// fillText, never innerHTML, so a token that looks like a tag is shown as text. The matrix is
// painted by heatmap.js (attnlabHeatmap, inlined just before this file), as in the web lab.
(function () {
  "use strict";
  const heatmap = attnlabHeatmap;
  const root = document.getElementById("attnlab-root");
  const data = JSON.parse(document.getElementById("attnlab-data").textContent);
  const [L, H, T, S] = data.shape;
  const maxQ = (1 << data.bits) - 1;  // quantised weight q stands for q / maxQ
  const digits = data.bits === 16 ? 3 : 2;  // show only the digits the quantisation keeps
  const LINE_MIN = 0.01;  // lines fainter than this are invisible anyway: skip them
  const LINE_BUDGET = 1000;  // at rest draw at most this many lines, the strongest (raster cost)
  const MATRIX_PX = 440;  // the matrix canvas fits in about this many CSS pixels
  const rowPx = Math.max(6, Math.min(18, Math.floor(30000 / Math.max(T, S))));
  const $ = (cls) => root.querySelector("." + cls);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  let q = null;  // all weights, quantised: Uint8Array or Uint16Array of L*H*T*S
  let layer = 0, head = 0, hover = null;  // hover: {axis: "q" | "k", index}
  let restMin = LINE_MIN;  // with no token hovered, draw the lines with weight >= restMin
  let picture = null;  // the current head, one pixel per weight (heatmap.image)

  async function decode() {
    const bin = atob(data.weights);
    let bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (data.compression === "deflate") {
      if (typeof DecompressionStream === "undefined") {
        throw new Error("this browser cannot unpack the data (needs DecompressionStream)");
      }
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    }
    return data.bits === 16 ? new Uint16Array(bytes.buffer, 0, L * H * T * S) : bytes;
  }

  const base = () => (layer * H + head) * T * S;
  const weight = (i, j) => q[base() + i * S + j] / maxQ;
  const fmt = (w) => w.toFixed(digits);

  // ---- token columns of the lines view -------------------------------------------------
  const colQ = $("col.q"), colK = $("col.k");
  function fillColumn(col, tokens, axis) {
    tokens.forEach((text, index) => {
      const span = el("span", "tok");
      span.style.height = span.style.lineHeight = rowPx + "px";
      span.dataset.index = index;
      span.title = (axis === "q" ? "query " : "key ") + index;
      const num = el("span", "num");
      const label = el("span", "label", text);
      if (axis === "q") span.append(label, num); else span.append(num, label);
      span.addEventListener("mouseenter", () => setHover({ axis, index }));
      span.addEventListener("mouseleave", () => setHover(null));
      col.append(span);
    });
  }

  // ---- lines view ----------------------------------------------------------------------
  const lines = $("lines");
  const linesW = 160, linesH = Math.max(T, S) * rowPx;
  const dpr = Math.min(window.devicePixelRatio || 1, 30000 / linesH);
  lines.width = linesW * dpr; lines.height = linesH * dpr;
  lines.style.width = linesW + "px"; lines.style.height = linesH + "px";

  function drawLines() {
    const ctx = lines.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, linesW, linesH);
    const y = (i) => (i + 0.5) * rowPx;
    // Bucket lines by opacity so each bucket is one path: thousands of lines stay fast.
    const buckets = Array.from({ length: 20 }, () => []);
    const add = (i, j, w, min) => { if (w >= min) buckets[Math.min(19, Math.floor(w * 20))].push(i, j); };
    if (hover && hover.axis === "q") for (let j = 0; j < S; j++) add(hover.index, j, weight(hover.index, j), LINE_MIN);
    else if (hover) for (let i = 0; i < T; i++) add(i, hover.index, weight(i, hover.index), LINE_MIN);
    else for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) add(i, j, weight(i, j), restMin);
    ctx.lineWidth = hover ? 1.5 : 1;
    buckets.forEach((pairs, b) => {
      if (!pairs.length) return;
      ctx.strokeStyle = `rgba(31, 99, 170, ${Math.max(0.04, (b + 0.5) / 20)})`;
      ctx.beginPath();
      for (let p = 0; p < pairs.length; p += 2) {
        ctx.moveTo(2, y(pairs[p]));
        ctx.lineTo(linesW - 2, y(pairs[p + 1]));
      }
      ctx.stroke();
    });
  }

  function markTokens() {
    // Numbers beside the tokens on the other side of the hovered one, shaded by weight.
    for (const [col, other] of [[colQ, "k"], [colK, "q"]]) {
      const showing = hover && hover.axis === other;
      for (const span of col.children) {
        const index = Number(span.dataset.index);
        const isHovered = hover && hover.axis !== other && hover.index === index;
        span.classList.toggle("active", Boolean(isHovered));
        let w = null;
        if (showing) w = other === "q" ? weight(hover.index, index) : weight(index, hover.index);
        span.querySelector(".num").textContent = w === null ? "" : fmt(w);
        span.style.background = w === null ? "" : `rgba(31, 99, 170, ${(0.6 * w).toFixed(3)})`;
      }
    }
  }

  // ---- matrix view ---------------------------------------------------------------------
  const matrix = $("matrix");
  const cell = Math.max(1, Math.min(48, Math.floor(MATRIX_PX / Math.max(T, S))));
  const showLabels = cell >= 12;
  const mctx = matrix.getContext("2d");
  const labelFont = "12px system-ui, sans-serif";
  mctx.font = labelFont;
  const LABEL_PX = 140;
  const widest = (tokens) => Math.min(LABEL_PX, Math.max(...tokens.map((t) => mctx.measureText(t).width)));
  function clip(text) {  // cut a long label to LABEL_PX, ending in …
    if (mctx.measureText(text).width <= LABEL_PX) return text;
    const chars = Array.from(text);
    let lo = 0, hi = chars.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (mctx.measureText(chars.slice(0, mid).join("") + "…").width <= LABEL_PX) lo = mid; else hi = mid - 1;
    }
    return chars.slice(0, lo).join("") + "…";
  }
  const labelsQ = showLabels ? data.tokens_q.map(clip) : [];
  const labelsK = showLabels ? data.tokens_k.map(clip) : [];
  const left = showLabels ? widest(data.tokens_q) + 10 : 0;
  const top = showLabels ? widest(data.tokens_k) + 10 : 0;
  const mW = left + S * cell, mH = top + T * cell;
  const mdpr = window.devicePixelRatio || 1;
  matrix.width = mW * mdpr; matrix.height = mH * mdpr;
  matrix.style.width = mW + "px"; matrix.style.height = mH + "px";

  function paintHead() {
    const start = base(), shift = data.bits === 16 ? 8 : 0;  // a 16-bit level's top 8 bits: its shade
    picture = heatmap.image(T, S, (i, j) => q[start + i * S + j] >> shift);
  }

  function drawMatrix() {
    const ctx = mctx;
    ctx.setTransform(mdpr, 0, 0, mdpr, 0, 0);
    ctx.clearRect(0, 0, mW, mH);
    heatmap.draw(ctx, picture, left, top, S * cell, T * cell);
    ctx.font = labelFont;
    ctx.fillStyle = "#1b1f24";
    if (showLabels) {
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      labelsQ.forEach((t, i) => ctx.fillText(t, left - 5, top + (i + 0.5) * cell));
      ctx.save();
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      labelsK.forEach((t, j) => ctx.fillText(t, -top + 5, left + (j + 0.5) * cell));
      ctx.restore();
    }
    if (cell >= 24) {  // small matrices: print every weight in its cell, to 2 digits like the PNG
      ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.font = "10px system-ui, sans-serif";
      for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) {
        const w = weight(i, j);
        ctx.fillStyle = w > 0.6 ? "#fff" : "#1b1f24";
        ctx.fillText(w.toFixed(2), left + (j + 0.5) * cell, top + (i + 0.5) * cell);
      }
    }
    if (hover) {  // outline the hovered token's row (query) or column (key)
      ctx.strokeStyle = "#d9480f"; ctx.lineWidth = 1.5;
      if (hover.axis === "q") ctx.strokeRect(left, top + hover.index * cell, S * cell, cell);
      else ctx.strokeRect(left + hover.index * cell, top, cell, T * cell);
    }
  }

  matrix.addEventListener("mousemove", (event) => {
    const box = matrix.getBoundingClientRect();
    const i = Math.floor((event.clientY - box.top - top) / cell);
    const j = Math.floor((event.clientX - box.left - left) / cell);
    if (i >= 0 && i < T && j >= 0 && j < S) setHover({ axis: "q", index: i, key: j });
    else if (hover) setHover(null);
  });
  matrix.addEventListener("mouseleave", () => setHover(null));

  // ---- info panel: the hovered token's row (or column) of weights, with numbers ----------
  const info = $("info");
  let shown = null;  // the last hovered token stays in the panel after the mouse leaves
  function drawInfo() {
    if (!shown) return;
    info.replaceChildren();
    const isQ = shown.axis === "q";
    const tokens = isQ ? data.tokens_k : data.tokens_q;
    const name = (isQ ? data.tokens_q : data.tokens_k)[shown.index];
    const head2 = el("h2");
    head2.append(isQ ? `query ${shown.index} ` : `key ${shown.index} `, el("b", "", name),
      isQ ? " attends to:" : " is attended by:");
    info.append(head2);
    if (isQ && shown.key !== undefined) {
      const p = el("div", "cell");
      const w = fmt(weight(shown.index, shown.key));
      p.append("→ ", el("b", "", data.tokens_k[shown.key]), ` (key ${shown.key}): ${w}`);
      info.append(p);
    }
    const row = tokens.map((t, j) => [j, isQ ? weight(shown.index, j) : weight(j, shown.index)]);
    const listed = row.length > 40 ? row.slice().sort((a, b) => b[1] - a[1]).slice(0, 25) : row;
    const table = el("table");
    for (const [j, w] of listed) {
      const tr = el("tr");
      const bar = el("td", "bar"), fill = el("div");
      fill.style.width = (100 * w).toFixed(1) + "%";
      bar.append(fill);
      const label = el("td", "t");
      label.append(el("div", "", tokens[j]));
      tr.append(el("td", "idx", String(j)), label, el("td", "w", fmt(w)), bar);
      table.append(tr);
    }
    info.append(table);
    if (listed.length < row.length) {
      info.append(el("div", "more", `top ${listed.length} of ${row.length}, largest first`));
    }
  }

  function setHover(h) {
    const same = (a, b) => a === b || (a && b && a.axis === b.axis && a.index === b.index && a.key === b.key);
    if (same(h, hover)) return;  // the mouse moved within the same cell or token
    hover = h;
    if (h) shown = h;
    drawLines(); markTokens(); drawMatrix(); drawInfo();
  }

  function strongestLines() {
    // The weight above which at most LINE_BUDGET lines remain: a histogram of the levels.
    const counts = new Uint32Array(maxQ + 1), start = base();
    for (let p = 0; p < T * S; p++) counts[q[start + p]]++;
    const minLevel = Math.ceil(LINE_MIN * maxQ);
    let level = maxQ, total = 0, cut = false;
    for (; level >= minLevel; level--) {
      if (total + counts[level] > LINE_BUDGET) { cut = true; break; }
      total += counts[level];
    }
    restMin = (level + 1) / maxQ;
    root.dataset.lines = total;
    $("line-note").textContent = cut ? `; the ${total} strongest (≥ ${fmt(restMin)})` : "";
  }

  function render() {
    paintHead();
    strongestLines();
    drawLines(); markTokens(); drawMatrix(); drawInfo();
    root.dataset.layer = layer; root.dataset.head = head;
    root.dataset.renders = Number(root.dataset.renders || 0) + 1;
  }

  // ---- controls ------------------------------------------------------------------------
  const layerSelect = $("layer"), headSelect = $("head");
  data.layers.forEach((name, i) => layerSelect.append(new Option(name, String(i))));
  for (let h = 0; h < H; h++) headSelect.append(new Option(String(h), String(h)));
  layerSelect.addEventListener("change", () => { layer = Number(layerSelect.value); render(); });
  headSelect.addEventListener("change", () => { head = Number(headSelect.value); render(); });
  $("title").textContent = data.title;
  const plural = (n, word) => `${n} ${word}${n > 1 ? "s" : ""}`;
  $("status").textContent = `${T} queries × ${S} keys, ${plural(L, "layer")} × ${plural(H, "head")}` +
    (data.bits === 8 ? " (weights stored in 8 bits: ±0.002)" : "");
  fillColumn(colQ, data.tokens_q, "q");
  fillColumn(colK, data.tokens_k, "k");

  decode().then((weights) => {
    q = weights;
    render();
    // Ready once the first frame is painted (canvas drawing is rasterised at paint time).
    requestAnimationFrame(() => setTimeout(() => {
      root.dataset.firstRenderMs = performance.now().toFixed(1);
      root.dataset.ready = "1";
    }, 0));
  }).catch((err) => {
    const msg = el("p", "error", "attnlab: " + err.message);
    root.prepend(msg);
    root.dataset.ready = "error";
  });
})();
