// attnlab web lab. One page, six panels, all fed by the JSON API (/api/...). Every string that
// came from a model or a user (tokens, guesses, generated text, model names) is put into the page
// with textContent, option.text or canvas fillText, never innerHTML: a token such as
// `<img src=x onerror=alert(1)>` or `</script>` shows as text. The page's own strings are data,
// /static/strings.json (English and Korean); every visible label goes through t(). The weight
// maps are painted by /static/heatmap.js (attnlabHeatmap), the same module as the HTML view's.
(function () {
  "use strict";
  const heatmap = attnlabHeatmap;

  const DEFAULT_TEXT = { gpt: "First Citizen: Before we proceed any further, hear me speak.",
                         encoder: "The animal didn't cross the street because it was too tired." };

  // ---- small helpers ---------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const state = { lang: "en", strings: null, models: [], model: null, att: null, layer: 0, head: 0, token: 0,
                  off: new Set(), ablation: null, generation: 0 };

  function t(key, vars) {
    let s = state.strings[state.lang][key];
    if (s === undefined) s = state.strings.en[key] || key;
    for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A label of the page's own (translated on a language switch) or a piece of data (never translated).
  function label(key, vars) {
    const e = el("span", "i18n", t(key, vars));
    e.dataset.key = key;
    if (vars) e.dataset.vars = JSON.stringify(vars);
    return e;
  }
  const data = (text, cls) => el("span", "data" + (cls ? " " + cls : ""), String(text));
  const tokenLabel = (i) => (state.att ? state.att.labels[i] : String(i));

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    document.querySelectorAll("span.i18n").forEach((e) => {
      e.textContent = t(e.dataset.key, e.dataset.vars ? JSON.parse(e.dataset.vars) : undefined);
    });
    if (state.att) drawMap();  // the head's name
  }

  // Colour maps: heatmap.blues for weights (as the PNG and HTML views), and blue-white-red here.
  const css = heatmap.css;
  function diverging(x, scale) {
    const v = Math.max(-1, Math.min(1, x / (scale || 1)));
    return v >= 0 ? [255, 255 - 160 * v, 255 - 170 * v] : [255 + 170 * v, 255 + 110 * v, 255];
  }
  const textOn = (rgb) => (rgb[0] * 0.3 + rgb[1] * 0.59 + rgb[2] * 0.11 < 140 ? "#fff" : "#111");

  class ApiError extends Error {
    constructor(message, code) { super(message); this.code = code; }
  }

  async function api(name, body) {
    let response;
    try {
      response = await fetch("/api/" + name, { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify({ ...state.model.ref, ...body }) });
    } catch (e) {
      throw new ApiError(String(e), "network");
    }
    const answer = await response.json().catch(() => ({ error: response.statusText, code: "bad_request" }));
    if (!response.ok) throw new ApiError(answer.error || response.statusText, answer.code || "other");
    return answer;
  }

  function showError(where, err) {
    where.replaceChildren();
    const known = err && err.code && state.strings.en["err_" + err.code] !== undefined;
    const line = el("p", "error");
    line.append(known ? label("err_" + err.code) : label("err_other", { m: err && err.message }));
    if (known && err.message) line.title = err.message;  // the server's own words, on hover
    where.append(line);
  }

  function busy(section, on) { $(section).dataset.state = on ? "busy" : "ready"; }

  // ---- the request cycle of a panel ------------------------------------------------------------
  // section: the panel; errors: where it shows an error; clear: what an error empties as well.
  const PANELS = {
    attention: { section: "p-attention", errors: "status" },
    explain: { section: "p-explain", errors: "explain-steps" },
    lens: { section: "p-lens", errors: "lens-readout", clear: ["lens"] },
    ablate: { section: "p-ablate", errors: "next-ablated" },
    sample: { section: "p-sample", errors: "dist" },
    why: { section: "p-why", errors: "why-cards" },
  };
  const latest = {};  // panel name -> the ticket of its newest request

  // Busy, ask, then show the answer or the error, unless the request went stale meanwhile: a
  // newer request to the same panel, or a newer text (state.generation), superseded it. Busy is
  // cleared by the panel's newest request whatever its outcome, so no panel is left busy.
  // Resolves to true when `show` ran.
  async function request(name, ask, show) {
    const panel = PANELS[name], ticket = {}, generation = state.generation;
    latest[name] = ticket;
    const newest = () => latest[name] === ticket;
    const fresh = () => newest() && generation === state.generation;
    busy(panel.section, true);
    let answer;
    try {
      answer = await ask();
    } catch (err) {
      if (fresh()) {
        showError($(panel.errors), err);
        (panel.clear || []).forEach((id) => $(id).replaceChildren());
      }
      if (newest()) busy(panel.section, false);
      return false;
    }
    const shown = fresh();
    try {
      if (shown) show(answer);
    } finally {
      if (newest()) busy(panel.section, false);
    }
    return shown;
  }

  // ---- models and text -------------------------------------------------------------------------
  async function loadModels() {
    const response = await fetch("/api/models");
    const listing = await response.json();
    state.models = listing.models.map((m) => ({ ...m, ref: m.run !== undefined ? { run: m.run } : { model: m.model } }));
    $("text").maxLength = listing.max_text;
    const select = $("model");
    state.models.forEach((m, i) => { const o = document.createElement("option"); o.value = i; o.text = m.label; select.append(o); });
    // ?run=NAME (or ?model=minilm) opens that model; otherwise the first listed
    const query = new URLSearchParams(location.search);
    const wanted = state.models.findIndex((m) => (m.run !== undefined && m.run === query.get("run"))
                                                 || (m.model !== undefined && m.model === query.get("model")));
    select.value = String(Math.max(0, wanted));
    pickModel(Math.max(0, wanted));
  }

  function pickModel(i) {
    state.model = state.models[i];
    document.body.classList.toggle("encoder", state.model.kind !== "gpt");
    $("text").value = DEFAULT_TEXT[state.model.kind] || DEFAULT_TEXT.gpt;
    state.off.clear();
    state.layer = 0; state.head = 0;
    run();
  }

  async function run() {
    const text = $("text").value;
    $("status").replaceChildren(label("working"));
    state.generation++;  // every panel's request for the previous text is stale from here
    if (!await request("attention", () => api("attention", { text }).then(unpackWeights), showAttention)) return;
    const tasks = [refreshExplain(), refreshWhy()];
    if (state.model.kind === "gpt") tasks.push(refreshLens(), refreshAblate(true), refreshNext());
    await Promise.all(tasks);
    document.body.dataset.ready = "1";
  }

  function showAttention(att) {
    $("status").replaceChildren();
    state.att = att;
    const T = att.tokens.length;
    state.token = T - 1;
    state.layer = Math.min(state.layer, att.shape[0] - 1); state.head = Math.min(state.head, att.shape[1] - 1);
    $("count").replaceChildren(label("count", { n: T, max: state.model.max_tokens }));
    drawTokens(); drawGrid(); drawMap(); fillPositions();
  }

  function drawTokens() {
    const box = $("tokens");
    box.replaceChildren();
    state.att.labels.forEach((text, i) => {
      const b = el("button", "tok" + (i === state.token ? " on" : ""), text);
      b.type = "button";
      b.dataset.index = i;
      b.title = String(i);
      b.addEventListener("click", () => { state.token = i; drawTokens(); drawMap(); refreshExplain(); });
      box.append(b);
    });
  }

  // ---- attention: the grid of heads and the selected head -------------------------------------
  // The weights come packed as the HTML view packs them (viz/html.py): 8 or 16 bits a weight,
  // deflated, base64; the browser's own DecompressionStream unpacks them.
  async function unpackWeights(att) {
    const bin = atob(att.weights);
    let bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    const [L, H, T, S] = att.shape;
    att.packed = att.bits === 16 ? new Uint16Array(bytes.buffer, 0, L * H * T * S) : bytes;
    att.top = att.bits === 16 ? 65535 : 255;
    return att;
  }
  const weightAt = (l, h, i, j) => {
    const [, H, T, S] = state.att.shape;
    return state.att.packed[((l * H + h) * T + i) * S + j] / state.att.top;
  };

  // Head (l, h) as a T × S picture, one pixel per weight (heatmap.js paints it).
  function headImage(l, h) {
    const T = state.att.shape[2], S = state.att.shape[3];
    return heatmap.image(T, S, (i, j) => heatmap.shade(weightAt(l, h, i, j)));
  }

  function drawThumb(canvas, l, h, px) {
    const T = state.att.shape[2], S = state.att.shape[3];
    canvas.width = S * px; canvas.height = T * px;
    heatmap.draw(canvas.getContext("2d"), headImage(l, h), 0, 0, S * px, T * px);
  }

  function drawGrid() {
    const [L, H, T] = state.att.shape;
    const grid = $("grid");
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `repeat(${H}, auto)`;
    const px = Math.max(1, Math.floor(64 / T));
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
      const b = el("button", "thumb" + (l === state.layer && h === state.head ? " on" : ""));
      b.type = "button";
      b.dataset.layer = l; b.dataset.head = h;
      const c = document.createElement("canvas");
      drawThumb(c, l, h, px);
      c.style.width = c.style.height = (H > 6 ? 34 : 56) + "px";  // MiniLM's 12 heads fit the panel
      b.append(c, el("span", "data small", `${l}.${h}`));
      b.addEventListener("click", () => { state.layer = l; state.head = h; drawGrid(); drawMap(); refreshExplain(); });
      grid.append(b);
    }
  }

  const MAP = { left: 48, top: 48 };
  function mapCell() {
    const T = state.att.shape[2];
    return Math.max(6, Math.min(28, Math.floor(460 / T)));
  }

  function drawMap() {
    const [, , T, S] = state.att.shape;
    const cell = mapCell();
    const canvas = $("attn-map");
    const ratio = window.devicePixelRatio || 1;
    const w = MAP.left + S * cell + 4, h = MAP.top + T * cell + 4;
    canvas.width = w * ratio; canvas.height = h * ratio;
    canvas.style.width = w + "px"; canvas.style.height = h + "px";
    canvas.dataset.cell = cell; canvas.dataset.left = MAP.left; canvas.dataset.top = MAP.top;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, w, h);
    heatmap.draw(ctx, headImage(state.layer, state.head), MAP.left, MAP.top, S * cell, T * cell);
    ctx.strokeStyle = "#d33"; ctx.lineWidth = 1.5;  // the query token chosen for "step by step"
    ctx.strokeRect(MAP.left, MAP.top + state.token * cell, S * cell, cell);
    ctx.fillStyle = "#222";
    ctx.font = `${Math.min(12, cell)}px "attnlab-hangul", system-ui, sans-serif`;
    ctx.textBaseline = "middle"; ctx.textAlign = "right";
    for (let i = 0; i < T; i++) ctx.fillText(tokenLabel(i).slice(0, 6), MAP.left - 3, MAP.top + (i + 0.5) * cell);
    ctx.save();
    ctx.textAlign = "left";
    for (let j = 0; j < S; j++) {
      ctx.save();
      ctx.translate(MAP.left + (j + 0.5) * cell, MAP.top - 3);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(tokenLabel(j).slice(0, 6), 0, 0);
      ctx.restore();
    }
    ctx.restore();
    $("head-name").replaceChildren(label("head_name", { l: state.layer, h: state.head }));
  }

  function hoverMap(event) {
    if (!state.att) return;
    const [, , T, S] = state.att.shape;
    const cell = mapCell();
    const j = Math.floor((event.offsetX - MAP.left) / cell), i = Math.floor((event.offsetY - MAP.top) / cell);
    const out = $("attn-readout");
    if (i < 0 || j < 0 || i >= T || j >= S) return;
    const w = weightAt(state.layer, state.head, i, j);
    out.dataset.query = i; out.dataset.key = j; out.dataset.weight = w;
    out.replaceChildren(label("query"), " ", data(i), " ", data(tokenLabel(i), "tokq"), " → ", label("key"), " ",
                        data(j), " ", data(tokenLabel(j), "tokk"), ": ", label("weight"), " ", data(w, "weight"));
  }

  // ---- step by step ----------------------------------------------------------------------------
  const STEP_KEYS = { q: "step_q", k: "step_k", v: "step_v", scores: "step_scores", scaled: "step_scaled",
                      weights: "step_weights", out: "step_out", z: "step_z", "attn.out": "step_attn_out" };
  const STEP_NAMES = { q: "Q", k: "K", v: "V", scores: "Q · Kᵀ", scaled: "× 1/√D", masked: "−∞", weights: "softmax",
                       out: "Σ w · V", z: "z", "attn.out": "W_O" };

  function numberTable(step) {
    const table = el("table", "numbers data");
    step.values.forEach((row, r) => {
      const tr = document.createElement("tr");
      if (step.rows) tr.append(el("th", "", step.rows[r] !== undefined ? step.rows[r] : String(r)));
      row.forEach((x) => tr.append(el("td", "", x === null ? "−∞" : x.toFixed(3))));
      table.append(tr);
    });
    return table;
  }

  function refreshExplain() {
    const body = { text: $("text").value, layer: state.layer, head: state.head, token: state.token };
    return request("explain", () => api("explain", body), showExplain);
  }

  function showExplain(ex) {
    const box = $("explain-steps");
    box.replaceChildren();
    const head = el("p", "caption");
    head.append(label("explain_for", { l: ex.layer, h: ex.head, i: ex.token }), " ", data(tokenLabel(ex.token), "tok"));
    box.append(head);
    for (const step of ex.steps) {
      const card = el("div", "step");
      card.dataset.step = step.name;
      const title = el("h3");
      title.append(data(STEP_NAMES[step.name] || step.name, "name"), " ");
      const key = step.name === "masked" ? (state.att && state.att.causal ? "step_masked" : "step_unmasked") : STEP_KEYS[step.name];
      title.append(label(key, { scale: ex.scale, d: ex.d_head }));
      const meta = el("p", "meta");
      meta.append(label("shape"), " ", data("(" + step.shape.join(", ") + ")"));
      if (step.mean !== null) meta.append("  ", label("mean"), " ", data(step.mean.toFixed(3)), "  ", label("std"), " ", data(step.std.toFixed(3)));
      if (step.cut) meta.append("  ", label("cut_shown", { n: step.values[0].length }));
      card.append(title, meta, numberTable(step));
      box.append(card);
    }
  }

  // ---- logit lens ------------------------------------------------------------------------------
  function layerName(name) {
    if (name === "embed") return label("lens_embed");
    const m = /^blocks\.(\d+)\.out$/.exec(name);
    return m ? label("lens_block", { n: m[1] }) : data(name);
  }

  function refreshLens() {
    const body = { text: $("text").value, k: 5 };
    return request("lens", () => api("lens", body), showLens);
  }

  function showLens(lens) {
    const table = $("lens");
    table.replaceChildren();
    const header = document.createElement("tr");
    header.append(el("th"));
    state.att.labels.forEach((text) => header.append(el("th", "data", text)));
    table.append(header);
    lens.layers.forEach((name, l) => {
      const tr = document.createElement("tr");
      const th = el("th");
      th.append(layerName(name));
      tr.append(th);
      lens.top[l].forEach((guess, i) => {
        const p = lens.p_next[l][i];
        const rgb = heatmap.blues(p === null ? 0 : p);
        const td = el("td", "data", guess);
        td.style.background = css(rgb); td.style.color = textOn(rgb);
        td.dataset.layer = l; td.dataset.pos = i;
        td.addEventListener("mouseenter", () => lensReadout(lens, l, i));
        tr.append(td);
      });
      table.append(tr);
    });
    $("lens-readout").replaceChildren();
  }

  function lensReadout(lens, l, i) {
    const out = $("lens-readout");
    const head = el("p");
    const where = layerName(lens.layers[l]);
    head.append(where, ", ", label("lens_pos"), " ", data(i), " ", data(tokenLabel(i), "tok"));
    const p = lens.p_next[l][i];
    if (p !== null) head.append(" · ", label("next_is"), " ", data(tokenLabel(i + 1), "tok"), ", ", label("p_next"), " ", data(p.toFixed(4)));
    out.replaceChildren(head, bars(lens.top_k[l][i].map((g) => ({ token: g.token, p: g.p }))));
  }

  // ---- bars: a distribution --------------------------------------------------------------------
  function bars(rows, scale) {
    const box = el("div", "bars");
    const top = scale || Math.max(...rows.map((r) => r.p), 1e-9);
    for (const r of rows) {
      const line = el("div", "bar" + (r.cut ? " cut" : ""));
      line.dataset.token = r.token;
      line.dataset.p = r.p;
      const fill = el("span", "fill");
      fill.style.width = (100 * r.p / top).toFixed(1) + "%";
      const tok = el("span", "tok data", r.token);
      const num = el("span", "num data", (100 * r.p).toFixed(1) + "%");
      line.append(tok, el("span", "track"), num);
      line.children[1].append(fill);
      if (r.cut) line.append(label("cut"));
      box.append(line);
    }
    return box;
  }

  // ---- knock out heads -------------------------------------------------------------------------
  function fillPositions() {
    const fill = (select, withNone, pick) => {
      select.replaceChildren();
      if (withNone) { const o = document.createElement("option"); o.value = ""; o.text = "—"; select.append(o); }
      state.att.labels.forEach((text, i) => {
        const o = document.createElement("option");
        o.value = i; o.text = `${i}: ${text}`;
        select.append(o);
      });
      select.value = pick;
    };
    const T = state.att.tokens.length;
    fill($("ablate-pos"), false, String(T - 1));
    fill($("why-from"), false, String(Math.max(0, T - 2)));  // the last token predicts nothing to ablate
    fill($("why-to"), false, "0");
    fill($("why-vs"), true, "");
  }

  function drawAblateGrid() {
    const grid = $("ablate-grid");
    const L = state.model.layers, H = state.model.heads;
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `repeat(${H}, auto)`;
    const rows = state.ablation ? state.ablation.heads : [];
    const biggest = Math.max(1e-6, ...rows.map((r) => Math.abs(r.zero)));
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) {
      const key = `${l}.${h}`;
      const b = el("button", "headbtn" + (state.off.has(key) ? " off" : ""), key);
      b.type = "button";
      b.dataset.head = key;
      const row = rows.find((r) => r.layer === l && r.head === h);
      if (row) {
        const rgb = diverging(row.zero, biggest);
        b.style.background = css(rgb); b.style.color = textOn(rgb);
        b.title = t("head_delta", { l, h, d: (row.zero >= 0 ? "+" : "") + row.zero.toFixed(4) });
      }
      b.addEventListener("click", () => {
        state.off.has(key) ? state.off.delete(key) : state.off.add(key);
        drawAblateGrid();
        refreshAblate(false);
      });
      grid.append(b);
    }
  }

  function refreshAblate(each) {
    const heads = [...state.off].map((k) => k.split(".").map(Number));
    const body = { text: $("text").value, heads, position: Number($("ablate-pos").value), each: each === true };
    return request("ablate", () => api("ablate", body), showAblate);
  }

  function showAblate(result) {
    if (result.heads) state.ablation = result;  // the per-head rows come once per text
    drawAblateGrid();
    $("loss-base").textContent = result.baseline_loss.toFixed(4);
    $("loss-base").dataset.loss = result.baseline_loss;
    $("loss-ablated").textContent = result.set.loss.toFixed(4);
    $("loss-ablated").dataset.loss = result.set.loss;
    const scale = Math.max(...result.next.baseline.map((r) => r.p), ...result.next.ablated.map((r) => r.p));
    $("next-base").replaceChildren(bars(result.next.baseline, scale));
    $("next-ablated").replaceChildren(bars(result.next.ablated, scale));
  }

  // ---- sampling --------------------------------------------------------------------------------
  function samplingArgs() {
    const k = Number($("top-k").value);
    return { temperature: Number($("temperature").value), top_k: k > 0 ? k : null, top_p: Number($("top-p").value) };
  }

  function refreshNext() {
    const args = samplingArgs();
    $("temperature-out").textContent = args.temperature.toFixed(2);
    $("top-p-out").textContent = args.top_p.toFixed(2);
    const body = { text: $("text").value, n: 24, ...args };
    return request("sample", () => api("next", body), (d) => showNext(d, args));
  }

  function showNext(d, args) {
    $("kept").replaceChildren(args.temperature === 0 ? label("greedy")
      : label("kept", { n: d.kept, v: d.vocab, mass: (100 * d.kept_mass).toFixed(1) }));
    $("dist").replaceChildren(bars(d.bars.map((b) => ({ token: b.token, p: b.p, cut: !b.kept }))));
    $("dist").dataset.temperature = d.temperature;
  }

  let nextTimer = null;
  function scheduleNext() { clearTimeout(nextTimer); nextTimer = setTimeout(refreshNext, 120); }

  async function generate() {
    const out = $("gen-out");
    const button = $("generate");
    button.disabled = true;
    out.textContent = $("text").value;
    out.dataset.state = "busy";
    try {
      const response = await fetch("/api/generate", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ ...state.model.ref, text: $("text").value, max_new_tokens: Number($("max-new").value),
                               seed: Number($("seed").value), ...samplingArgs() }) });
      if (!response.ok) {
        const answer = await response.json();
        throw new ApiError(answer.error, answer.code);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let pending = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += decoder.decode(value, { stream: true });
        const lines = pending.split("\n");
        pending = lines.pop();
        for (const line of lines) {
          if (!line) continue;
          const msg = JSON.parse(line);
          if (msg.text !== undefined) out.textContent += msg.text;
          if (msg.error) throw new ApiError(msg.error, msg.code);
        }
      }
    } catch (err) {
      showError(out, err);
    } finally {
      button.disabled = false;
      out.dataset.state = "ready";
    }
  }

  // ---- does attention explain? -----------------------------------------------------------------
  function refreshWhy() {
    const vs = $("why-vs").value;
    const body = { text: $("text").value, from: Number($("why-from").value), to: Number($("why-to").value),
                   vs: vs === "" ? null : Number(vs) };
    return request("why", () => api("why", body), showWhy);
  }

  function showWhy(a) {
    const box = $("why-cards");
    box.replaceChildren();
    const card = (name, note, to, vsValue, fmt) => {
      const c = el("div", "card");
      c.dataset.answer = name;
      c.append(el("h3"), el("p", "note"));
      c.children[0].append(label(name));
      c.children[1].append(note);
      const line = el("p", "value");
      if (name !== "ablation") line.append(data(tokenLabel(a.to), "tok"), " ");  // ablation: a loss change
      line.append(data(to === null ? "—" : fmt(to), "num"));
      c.append(line);
      if (a.vs !== null && vsValue !== undefined) {
        const other = el("p", "value vs");
        other.append(label("vs"), " ", data(tokenLabel(a.vs), "tok"), " ", data(vsValue === null ? "—" : fmt(vsValue), "num"));
        c.append(other);
      }
      box.append(c);
    };
    const f3 = (x) => x.toFixed(3), pct = (x) => (100 * x).toFixed(1) + "%";
    card("raw", label("raw_note", { l: a.raw.layer, h: a.raw.head }), a.raw.to, a.raw.vs, f3);
    card("rollout", label("rollout_note"), a.rollout.to, a.rollout.vs, f3);
    card("flow", label("flow_note"), a.flow.to, a.flow.vs, f3);
    card("norm", label("norm_note", { l: a.norm.layer, h: a.norm.head }), a.norm.to, a.norm.vs, pct);
    if (a.ablation) {
      const note = a.ablation.dloss === null ? label("ablation_last") : label("ablation_note");
      card("ablation", note, a.ablation.dloss, undefined, (x) => (x >= 0 ? "+" : "") + x.toFixed(3));
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------
  async function start() {
    const response = await fetch("/static/strings.json");  // the labels, before anything shows one
    state.strings = await response.json();
    applyLanguage();
    wire();
    await loadModels();
  }

  function wire() {
    $("text-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
    $("model").addEventListener("change", (e) => pickModel(Number(e.target.value)));
    $("lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "ko" : "en"; applyLanguage(); });
    $("attn-map").addEventListener("mousemove", hoverMap);
    $("ablate-pos").addEventListener("change", () => refreshAblate(false));
    ["why-from", "why-to", "why-vs"].forEach((id) => $(id).addEventListener("change", refreshWhy));
    ["temperature", "top-k", "top-p"].forEach((id) => $(id).addEventListener("input", scheduleNext));
    $("generate").addEventListener("click", generate);
    // The Hangul font loads only when Hangul appears; canvas text drawn before then is redrawn.
    if (document.fonts) document.fonts.load('12px "attnlab-hangul"', "한").then(() => { if (state.att) drawMap(); }).catch(() => {});
  }

  document.addEventListener("DOMContentLoaded", () => start().catch((err) => {
    if (state.strings) showError($("status"), err); else $("status").textContent = String(err);  // no labels yet
  }));
})();
