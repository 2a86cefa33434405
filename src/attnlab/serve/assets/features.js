// attnlab web lab: the Features panel (/api/features). It lists the SAE's features (or the
// point's raw neurons) densest first; a click shows one unit's density, histogram, top contexts
// (each token shaded by the unit's activation) and the tokens it promotes and suppresses; the
// typed text shows which units fire at each token. Every string is placed with textContent.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const models = [];
  let kind = "feature";
  let last = null;  // the last answer, redrawn when the language changes
  // The panel's own words (the page's language is <html lang>, switched by the lab's button).
  const WORDS = {
    en: { title: "Features", note: "What the run's sparse autoencoder found (attnlab sae), or the raw neurons: densest first. A click shows a unit's top contexts; the typed text shows the units most active at each token.",
          feature: "SAE features", neuron: "neurons", density: "density", specificity: "specificity", max: "max",
          promotes: "promotes", suppresses: "suppresses", units: "units", tokens: "tokens", dead: "never active" },
    ko: { title: "특징", note: "이 실행의 희소 오토인코더가 찾은 특징(attnlab sae), 또는 뉴런 그대로: 자주 켜지는 순서. 하나를 누르면 가장 크게 켜진 문맥이, 입력한 글에서는 토큰마다 가장 크게 켜진 단위가 보입니다.",
          feature: "SAE 특징", neuron: "뉴런", density: "켜지는 비율", specificity: "한 토큰 집중도", max: "최대",
          promotes: "올리는 토큰", suppresses: "내리는 토큰", units: "단위", tokens: "토큰", dead: "한 번도 안 켜짐" },
  };
  const w = (key) => (WORDS[document.documentElement.lang] || WORDS.en)[key];
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
    return m && m.run !== undefined && m.kind === "gpt" ? { run: m.run } : null;
  }

  async function ask(body) {
    const r = ref();
    if (!r) throw Object.assign(new Error("needs a run"), { code: "needs_gpt" });
    const response = await fetch("/api/features", { method: "POST", headers: { "Content-Type": "application/json" },
                                                   body: JSON.stringify({ ...r, kind, ...body }) });
    const answer = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw Object.assign(new Error(answer.error || response.statusText), { code: answer.code });
    return answer;
  }

  function shade(v, max) {
    const a = max > 0 && v > 0 ? Math.min(1, v / max) : 0;
    return `rgba(230, 90, 30, ${a.toFixed(3)})`;
  }

  function showDetail(d) {
    const box = $("features-detail");
    box.replaceChildren(el("h3", "", `${d.kind} ${d.unit}`),
      el("p", "note", `${w("density")} ${(100 * d.density).toFixed(3)}%, ${w("specificity")} ${d.specificity}, ${w("max")} ${d.histogram.max.toFixed(3)}`));
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
      const p = el("p", "", w(name) + ": ");
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
    $("features-summary").textContent = `${a.sae}: ${s.units} ${w("units")}, ${a.summary.point}, ${a.summary.tokens} ${w("tokens")}; ` +
      `${w("dead")} ${s.dead}, ${w("specificity")} ${s.median_specificity}`;
    list.replaceChildren();
    a.listing.forEach((u) => {
      const row = el("button", "features-row", `${u.unit}  ${(100 * u.density).toFixed(2)}%  ${u.promotes.join(" ")}`);
      row.type = "button";
      row.onclick = () => refresh(u.unit);
      list.append(row);
    });
  }

  function labels() {
    $("features-title").textContent = w("title");
    $("features-note").textContent = w("note");
    const pick = $("features-kind");
    pick.replaceChildren(...["feature", "neuron"].map((k) => { const o = el("option", "", w(k)); o.value = k; return o; }));
    pick.value = kind;
    if (last) { showListing(last.answer); showFire(last.answer.fire); if (last.detail) showDetail(last.detail); }
  }

  async function refresh(unit) {
    $("features-error").textContent = "";
    if (!ref()) { $("p-features").hidden = true; return; }  // MiniLM, or a model that is not a GPT run
    try {
      const a = await ask({ text: $("text").value || null, unit: unit === undefined ? null : unit });
      if (a.sae === null) { $("p-features").hidden = true; return; }  // this run has no SAE (attnlab sae)
      const detail = a.detail || (a.listing.length ? (await ask({ unit: a.listing[0].unit })).detail : null);
      last = { answer: a, detail };
      $("p-features").hidden = false;
      labels();
    } catch (err) {
      // a run without an SAE (or a model that is not a run): the panel stays out of the way
      $("p-features").hidden = err.code === "no_sae" || err.code === "needs_gpt" || !ref();
      $("features-error").textContent = String(err.message || err);
    }
  }

  async function start() {
    const listing = await (await fetch("/api/models")).json();
    models.push(...listing.models);
    Object.assign($("features-list").style, { maxHeight: "24em", overflow: "auto", minWidth: "16em", display: "flex",
                                              flexDirection: "column" });
    labels();
    new MutationObserver(labels).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
    $("features-kind").onchange = () => { kind = $("features-kind").value; refresh(); };
    $("model").addEventListener("change", () => refresh());
    $("text-form").addEventListener("submit", () => refresh());
    refresh();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
