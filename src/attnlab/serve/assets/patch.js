// attnlab web lab, the Patch panel: two texts of the same length, then activation patching
// (/api/patch, `attnlab patch --json`): for each point a table, rows the layers, columns the
// tokens (heads: the heads), each cell coloured with heatmap.js's colours by how much of the
// clean answer patching that one activation brings back (1 = all of it). Hover a cell for its
// numbers. Every model or user string goes into the page with textContent, never innerHTML.
(function () {
  "use strict";
  const heatmap = attnlabHeatmap;
  const $ = (id) => document.getElementById(id);
  let models = null;  // /api/models' list, in the order of the #model select's options

  function el(tag, text) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function modelRef() {
    if (models === null) models = (await (await fetch("/api/models")).json()).models;
    const m = models[Number($("model").value) || 0];
    return m.run !== undefined ? { run: m.run } : { model: m.model };
  }

  const rowName = (point, l) => (point === "resid" ? (l === 0 ? "embed" : "out " + (l - 1)) : point + " " + l);

  function table(point, values, tokens, answer) {
    const t = el("table");
    t.className = "lens";
    const cols = point === "heads" ? values[0].map((_, h) => "h" + h) : tokens;
    const head = el("tr");
    head.append(el("th", point));
    cols.forEach((c) => head.append(el("th", c)));
    t.append(head);
    values.forEach((row, l) => {
      const tr = el("tr");
      tr.append(el("th", point === "heads" ? "layer " + l : rowName(point, l)));
      row.forEach((v, j) => {
        const td = el("td", v === null ? "" : v.toFixed(2));
        const rgb = heatmap.blues(v === null ? 0 : v);
        td.style.background = heatmap.css(rgb);
        td.style.color = rgb[0] * 0.3 + rgb[1] * 0.59 + rgb[2] * 0.11 < 140 ? "#fff" : "#111";
        td.addEventListener("mouseenter", () => {
          const where = point === "heads" ? "layer " + l + ", head " + j : rowName(point, l) + ", token " + j + " " + cols[j];
          $("patch-readout").textContent = point + " " + where + ": " + (v === null ? "-" : v.toFixed(4)) + " of " + answer;
        });
        tr.append(td);
      });
      t.append(tr);
    });
    return t;
  }

  async function patch(event) {
    event.preventDefault();
    const status = $("patch-status"), out = $("patch-tables");
    status.textContent = "…";
    out.replaceChildren();
    let answer;
    try {
      const response = await fetch("/api/patch", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...(await modelRef()), clean: $("patch-clean").value, corrupt: $("patch-corrupt").value }) });
      answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
    } catch (err) {
      status.textContent = String(err.message || err);
      return;
    }
    const gap = "LD = logit[" + answer.answer + "] − logit[" + answer.wrong + "]: clean " + answer.ld_clean.toFixed(3)
      + ", corrupt " + answer.ld_corrupt.toFixed(3);
    status.textContent = gap;
    for (const point of ["resid", "attn", "mlp", "heads"]) {
      if (answer[point]) out.append(table(point, answer[point], answer.tokens_clean, "the way to the clean answer"));
    }
    document.body.dataset.patched = "1";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("patch-form").addEventListener("submit", patch);
    $("model").addEventListener("change", () => { $("patch-tables").replaceChildren(); $("patch-status").textContent = ""; });
  });
})();
