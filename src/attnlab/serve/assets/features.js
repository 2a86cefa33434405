// attnlab web lab: the Features panel (/api/features). It lists the SAE's features (or the
// point's raw neurons) densest first; a click shows one unit's density, histogram, top contexts
// (each token shaded by the unit's activation) and the tokens it promotes and suppresses; the
// typed text shows which units fire at each token. Every string is placed with textContent.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const models = [];
  let kind = "feature";
  // styles set through the DOM: the lab's Content-Security-Policy refuses inline style attributes
  const HIST_BAR = { display: "inline-block", width: "10px", marginRight: "1px", background: "#57a", verticalAlign: "bottom" };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function ref() {
    const m = models[Number($("model").value)];
    return m && m.run !== undefined ? { run: m.run } : null;
  }

  async function ask(body) {
    const r = ref();
    if (!r) throw new Error("the Features panel needs a run (a GPT trained with attnlab train)");
    const response = await fetch("/api/features", { method: "POST", headers: { "Content-Type": "application/json" },
                                                   body: JSON.stringify({ ...r, kind, ...body }) });
    const answer = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function shade(v, max) {
    const a = max > 0 && v > 0 ? Math.min(1, v / max) : 0;
    return `rgba(230, 90, 30, ${a.toFixed(3)})`;
  }

  function showDetail(d) {
    const box = $("features-detail");
    box.replaceChildren(el("h3", "", `${d.kind} ${d.unit}`),
      el("p", "note", `density ${(100 * d.density).toFixed(3)}%, specificity ${d.specificity}, max ${d.histogram.max.toFixed(3)}`));
    const bars = el("div", "features-hist"), top = Math.max(1, ...d.histogram.counts);
    d.histogram.counts.forEach((c) => { const b = el("span"); Object.assign(b.style, HIST_BAR); b.style.height = (48 * c / top + 1) + "px"; b.title = String(c); bars.append(b); });
    box.append(bars);
    d.contexts.forEach((c) => {
      const line = el("div", "features-ctx data");
      line.style.whiteSpace = "pre";
      c.tokens.forEach((t, i) => {
        const s = el("span", i === c.at ? "at" : "", t);
        if (i === c.at) s.style.outline = "1px solid #c33";
        s.style.background = shade(c.acts[i], d.histogram.max);
        s.title = String(c.acts[i]);
        line.append(s);
      });
      line.append(el("span", "note", "  " + c.value));
      box.append(line);
    });
    for (const [name, list] of [["promotes", d.promotes], ["suppresses", d.suppresses]]) {
      const p = el("p", "", name + ": ");
      list.forEach((t) => p.append(el("code", "data", t.token), " "));
      box.append(p);
    }
  }

  function showFire(rows) {
    const box = $("features-fire");
    box.replaceChildren();
    (rows || []).forEach((row) => {
      const cell = el("div", "features-token");
      cell.append(el("b", "data", row.token));
      row.units.forEach((u) => {
        const b = el("button", "", `${u.unit} (${u.value.toFixed(2)})`);
        b.type = "button";
        b.onclick = () => refresh(u.unit);
        cell.append(b);
      });
      box.append(cell);
    });
  }

  function showListing(a) {
    const list = $("features-list");
    const s = a.summary[kind];
    $("features-summary").textContent = `${a.sae}: ${s.units} ${kind}s on ${a.summary.point}, ${a.summary.tokens} tokens; ` +
      `never active ${s.dead}, median specificity ${s.median_specificity}`;
    list.replaceChildren();
    a.listing.forEach((u) => {
      const row = el("button", "features-row", `${u.unit}  ${(100 * u.density).toFixed(2)}%  ${u.promotes.join(" ")}`);
      row.type = "button";
      row.onclick = () => refresh(u.unit);
      list.append(row);
    });
  }

  async function refresh(unit) {
    $("features-error").textContent = "";
    try {
      const a = await ask({ text: $("text").value || null, unit: unit === undefined ? null : unit });
      showListing(a);
      showFire(a.fire);
      if (a.detail) showDetail(a.detail);
      else if (a.listing.length) showDetail((await ask({ unit: a.listing[0].unit })).detail);
    } catch (err) {
      $("features-error").textContent = String(err.message || err);
    }
  }

  async function start() {
    const listing = await (await fetch("/api/models")).json();
    models.push(...listing.models);
    Object.assign($("features-list").style, { maxHeight: "24em", overflow: "auto", minWidth: "16em", display: "flex",
                                              flexDirection: "column" });
    $("features-kind").onchange = () => { kind = $("features-kind").value; refresh(); };
    $("model").addEventListener("change", () => refresh());
    $("text-form").addEventListener("submit", () => refresh());
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
