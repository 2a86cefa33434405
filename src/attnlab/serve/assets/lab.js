// attnlab web lab. One page, six panels, all fed by the JSON API (/api/...). Every string that
// came from a model or a user (tokens, guesses, generated text, model names) is put into the page
// with textContent, option.text or canvas fillText, never innerHTML: a token such as
// `<img src=x onerror=alert(1)>` or `</script>` shows as text. The page's own strings are in
// STRINGS, in English and Korean; every visible label goes through t().
(function () {
  "use strict";

  // ---- strings ---------------------------------------------------------------------------------
  const STRINGS = {
    en: {
      title: "lab", model: "model", switch: "한국어", text_label: "Text", go: "Look inside",
      count: "{n} / {max} tokens", working: "working…", ready: "",
      attention: "Attention",
      attention_note: "Each small map is one head (rows: layers, columns: heads). Click one to see it large; hover a cell for its exact weight. Rows are the tokens that look, columns the tokens they look at.",
      hover_cell: "hover a cell", head_name: "layer {l}, head {h}",
      query: "query", key: "key", weight: "weight",
      explain: "Step by step",
      explain_note: "The arithmetic of the selected head for one query token (click a token above to choose it): every step with its shape and numbers, from the model's own forward pass.",
      explain_for: "layer {l}, head {h}, query token {i}",
      shape: "shape", mean: "mean", std: "std", cut_shown: "(only the first {n} rows and columns are shown)",
      step_q: "Q: what the query token looks for (its row of x · W_Q, this head's part)",
      step_k: "K: what every token offers to be found by (x · W_K)",
      step_v: "V: what every token hands over (x · W_V)",
      step_scores: "Q · Kᵀ: how well the query matches each key",
      step_scaled: "scaled: Q · Kᵀ × {scale} (1/√{d}), so the scores do not grow with the width",
      step_masked: "mask: the tokens after the query are blocked (−∞) and get no attention",
      step_unmasked: "no mask: the query sees every token, before and after",
      step_weights: "softmax: the scores turned into weights that sum to 1",
      step_out: "weighted sum: weights · V, what the head hands on for this token",
      step_z: "z: the same output, as the model computed it in its forward pass",
      step_attn_out: "W_O: every head's output glued together and mixed back to the model's width",
      lens: "Logit lens",
      lens_note: "What the model would predict if it stopped after each layer. A cell shows the top guess; its colour is the probability of the token that really comes next. Hover a cell for the top guesses.",
      lens_embed: "embedding", lens_block: "after block {n}", lens_pos: "position",
      lens_cell: "{layer}, after token {i}:", next_is: "the next token is", p_next: "its probability",
      needs_gpt: "This panel needs a GPT run (a model that predicts the next token).",
      ablate: "Knock out heads",
      ablate_note: "Click heads to switch them off (their output zeroed). Colour: how much the loss on the text rises when that head alone is off. The loss and the next-token guesses update at once, beside the intact model's.",
      intact: "intact", knocked: "heads off", loss: "loss on the text", position: "guess after token",
      head_delta: "head {l}.{h}: loss {d} when switched off alone",
      sample: "Sample",
      sample_note: "The next-token distribution after the text. Temperature sharpens or flattens it; top-k and top-p cut the tail away (cut bars are greyed out). Sampling draws only from what is left.",
      temperature: "temperature", top_k: "top-k", top_p: "top-p", off_zero: "(0: off)",
      kept: "{n} of {v} tokens kept, {mass}% of the probability; a kept token's chance is its bar divided by that",
      greedy: "temperature 0: always the most likely token",
      cut: "cut", new_tokens: "new tokens", seed: "seed", generate: "Generate",
      why: "Does attention explain?",
      why_note: "Pick a token and one it may look at: how much does the first take from the second? Four answers from the research, side by side; they need not agree.",
      from: "token", to: "takes from", vs: "against", none: "(none)",
      raw: "Raw weight", raw_note: "the strongest single head, layer {l} head {h}",
      rollout: "Rollout", rollout_note: "every layer multiplied, the residual stream kept",
      flow: "Flow", flow_note: "the layers as pipes: the most that can flow",
      norm: "Norm", norm_note: "weight × the size of what is handed over, layer {l} head {h}",
      ablation: "Ablation", ablation_note: "the raw head zeroed: change in the loss of the guess after the token",
      ablation_last: "the last token predicts nothing: no loss to change",
      err_bad_request: "The server could not read the request.", err_too_many_tokens: "The text has too many tokens for this model.",
      err_text_too_long: "The text is too long.", err_empty_text: "Type a text first.",
      err_too_few_tokens: "The text needs at least two tokens.", err_future_token: "In a GPT a token only sees itself and the tokens before it.",
      err_unknown_model: "That model is not available.", err_network: "The server did not answer.",
      err_bad_value: "The model cannot read this text (a character it never saw?).",
      err_other: "Something went wrong: {m}",
    },
    ko: {
      title: "실험실", model: "모델", switch: "English", text_label: "문장", go: "들여다보기",
      count: "토큰 {n} / {max}개", working: "계산 중…", ready: "",
      attention: "어텐션",
      attention_note: "작은 그림 하나가 헤드 하나입니다(행: 층, 열: 헤드). 클릭하면 크게 보이고, 칸 위에 마우스를 올리면 정확한 가중치가 나옵니다. 행은 바라보는 토큰, 열은 바라봐지는 토큰입니다.",
      hover_cell: "칸 위에 마우스를 올려 보세요", head_name: "층 {l}, 헤드 {h}",
      query: "쿼리", key: "키", weight: "가중치",
      explain: "한 단계씩",
      explain_note: "고른 헤드가 쿼리 토큰 하나에 대해 하는 계산입니다(위의 토큰을 클릭해 고르세요). 모델의 실제 순전파에서 나온 각 단계의 모양과 숫자입니다.",
      explain_for: "층 {l}, 헤드 {h}, 쿼리 토큰 {i}",
      shape: "모양", mean: "평균", std: "표준편차", cut_shown: "(앞의 {n}행, {n}열만 보입니다)",
      step_q: "Q: 쿼리 토큰이 찾는 것 (x · W_Q 중 이 헤드의 몫)",
      step_k: "K: 각 토큰이 찾아지도록 내놓는 것 (x · W_K)",
      step_v: "V: 각 토큰이 넘겨주는 것 (x · W_V)",
      step_scores: "Q · Kᵀ: 쿼리가 각 키와 얼마나 맞는지",
      step_scaled: "스케일: Q · Kᵀ × {scale} (1/√{d}), 폭이 커져도 점수가 커지지 않도록",
      step_masked: "마스크: 쿼리 뒤의 토큰은 막혀(−∞) 어텐션을 받지 못합니다",
      step_unmasked: "마스크 없음: 쿼리는 앞뒤의 모든 토큰을 봅니다",
      step_weights: "소프트맥스: 점수를 합이 1인 가중치로 바꿉니다",
      step_out: "가중합: 가중치 · V, 이 헤드가 이 토큰에 넘겨주는 것",
      step_z: "z: 같은 출력을 모델이 순전파에서 계산한 값",
      step_attn_out: "W_O: 모든 헤드의 출력을 이어 붙여 모델의 폭으로 다시 섞습니다",
      lens: "로짓 렌즈",
      lens_note: "모델이 각 층에서 멈춘다면 무엇을 예측할까요? 칸에는 가장 유력한 추측이 있고, 색은 실제 다음 토큰의 확률입니다. 칸 위에 마우스를 올리면 상위 추측들이 나옵니다.",
      lens_embed: "임베딩", lens_block: "블록 {n} 뒤", lens_pos: "위치",
      lens_cell: "{layer}, 토큰 {i} 다음:", next_is: "실제 다음 토큰", p_next: "그 확률",
      needs_gpt: "이 패널은 GPT 실행(다음 토큰을 예측하는 모델)이 필요합니다.",
      ablate: "헤드 끄기",
      ablate_note: "헤드를 클릭하면 꺼집니다(출력이 0). 색: 그 헤드 하나만 껐을 때 문장의 손실이 얼마나 오르는지. 손실과 다음 토큰 추측이 바로 바뀌고, 온전한 모델의 값이 옆에 있습니다.",
      intact: "온전한 모델", knocked: "헤드를 끈 모델", loss: "문장의 손실", position: "추측 위치: 토큰",
      head_delta: "헤드 {l}.{h}: 이것만 끄면 손실 {d}",
      sample: "샘플링",
      sample_note: "문장 다음 토큰의 분포입니다. 온도는 분포를 날카롭게 또는 평평하게 하고, top-k와 top-p는 꼬리를 잘라 냅니다(잘린 막대는 회색). 샘플링은 남은 것에서만 뽑습니다.",
      temperature: "온도", top_k: "top-k", top_p: "top-p", off_zero: "(0: 끔)",
      kept: "토큰 {v}개 중 {n}개가 남았고 확률의 {mass}%입니다. 남은 토큰이 뽑힐 확률은 막대를 이 값으로 나눈 것입니다",
      greedy: "온도 0: 언제나 가장 유력한 토큰",
      cut: "잘림", new_tokens: "새 토큰 수", seed: "시드", generate: "생성",
      why: "어텐션이 설명할까?",
      why_note: "토큰 하나와 그 토큰이 볼 수 있는 토큰 하나를 고르세요. 앞의 것이 뒤의 것에서 얼마나 가져올까요? 연구에서 나온 네 가지 답을 나란히 놓았습니다. 서로 다를 수 있습니다.",
      from: "토큰", to: "가져오는 곳", vs: "비교 대상", none: "(없음)",
      raw: "가중치 그대로", raw_note: "가장 센 헤드 하나, 층 {l} 헤드 {h}",
      rollout: "롤아웃", rollout_note: "모든 층을 곱하고 잔차 흐름을 포함",
      flow: "흐름", flow_note: "층을 파이프로 보고 흐를 수 있는 최대량",
      norm: "노름", norm_note: "가중치 × 넘겨주는 값의 크기, 층 {l} 헤드 {h}",
      ablation: "제거 실험", ablation_note: "그 헤드를 0으로 했을 때 토큰 다음 추측의 손실 변화",
      ablation_last: "마지막 토큰은 다음을 예측하지 않아 바뀔 손실이 없습니다",
      err_bad_request: "서버가 요청을 읽지 못했습니다.", err_too_many_tokens: "이 모델에는 문장의 토큰이 너무 많습니다.",
      err_text_too_long: "문장이 너무 깁니다.", err_empty_text: "먼저 문장을 입력하세요.",
      err_too_few_tokens: "문장에 토큰이 두 개 이상 필요합니다.", err_future_token: "GPT에서 토큰은 자기 자신과 앞의 토큰만 봅니다.",
      err_unknown_model: "그 모델은 쓸 수 없습니다.", err_network: "서버가 응답하지 않았습니다.",
      err_bad_value: "모델이 이 문장을 읽을 수 없습니다(처음 보는 글자가 있나요?).",
      err_other: "문제가 생겼습니다: {m}",
    },
  };
  const DEFAULT_TEXT = { gpt: "First Citizen: Before we proceed any further, hear me speak.",
                         encoder: "The animal didn't cross the street because it was too tired." };

  // ---- small helpers ---------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  const state = { lang: "en", models: [], model: null, att: null, layer: 0, head: 0, token: 0,
                  off: new Set(), ablation: null, generation: 0, ablateAsked: 0 };

  function t(key, vars) {
    let s = STRINGS[state.lang][key];
    if (s === undefined) s = STRINGS.en[key] || key;
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

  // Colour maps: white to dark blue (weights, as the PNG and HTML views), and blue-white-red.
  function blues(x) {
    const v = Math.max(0, Math.min(1, x));
    return [247 + (8 - 247) * v, 251 + (48 - 251) * v, 255 + (107 - 255) * v];
  }
  const css = (rgb) => `rgb(${rgb.map(Math.round).join(",")})`;
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
    const known = err && err.code && STRINGS.en["err_" + err.code] !== undefined;
    const line = el("p", "error");
    line.append(known ? label("err_" + err.code) : label("err_other", { m: err && err.message }));
    if (known && err.message) line.title = err.message;  // the server's own words, on hover
    where.append(line);
  }

  function busy(section, on) { $(section).dataset.state = on ? "busy" : "ready"; }

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
    const status = $("status");
    status.replaceChildren(label("working"));
    busy("p-attention", true);
    const generation = ++state.generation;
    let att;
    try {
      att = await api("attention", { text });
    } catch (err) {
      if (generation === state.generation) { showError(status, err); busy("p-attention", false); }
      return;
    }
    if (generation !== state.generation) return;  // a newer text was sent meanwhile
    status.replaceChildren();
    state.att = att;
    const T = att.tokens.length;
    state.token = T - 1;
    state.layer = Math.min(state.layer, att.shape[0] - 1); state.head = Math.min(state.head, att.shape[1] - 1);
    $("count").replaceChildren(label("count", { n: T, max: state.model.max_tokens }));
    drawTokens(); drawGrid(); drawMap(); fillPositions();
    busy("p-attention", false);
    const tasks = [refreshExplain(), refreshWhy()];
    if (state.model.kind === "gpt") tasks.push(refreshLens(), refreshAblate(true), refreshNext());
    await Promise.all(tasks);
    document.body.dataset.ready = "1";
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
  const weightAt = (l, h, i, j) => state.att.weights[l][h][i][j];

  function headImage(canvas, l, h, px) {
    const T = state.att.shape[2], S = state.att.shape[3];
    canvas.width = S * px; canvas.height = T * px;
    const ctx = canvas.getContext("2d");
    for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) {
      ctx.fillStyle = css(blues(weightAt(l, h, i, j)));
      ctx.fillRect(j * px, i * px, px, px);
    }
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
      headImage(c, l, h, px);
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
    for (let i = 0; i < T; i++) for (let j = 0; j < S; j++) {
      ctx.fillStyle = css(blues(weightAt(state.layer, state.head, i, j)));
      ctx.fillRect(MAP.left + j * cell, MAP.top + i * cell, cell, cell);
    }
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

  async function refreshExplain() {
    const box = $("explain-steps");
    busy("p-explain", true);
    const generation = state.generation;
    let ex;
    try {
      ex = await api("explain", { text: $("text").value, layer: state.layer, head: state.head, token: state.token });
    } catch (err) { showError(box, err); busy("p-explain", false); return; }
    if (generation !== state.generation) return;
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
    busy("p-explain", false);
  }

  // ---- logit lens ------------------------------------------------------------------------------
  function layerName(name) {
    if (name === "embed") return label("lens_embed");
    const m = /^blocks\.(\d+)\.out$/.exec(name);
    return m ? label("lens_block", { n: m[1] }) : data(name);
  }

  async function refreshLens() {
    const table = $("lens");
    busy("p-lens", true);
    const generation = state.generation;
    let lens;
    try { lens = await api("lens", { text: $("text").value, k: 5 }); } catch (err) {
      showError($("lens-readout"), err); table.replaceChildren(); busy("p-lens", false); return;
    }
    if (generation !== state.generation) return;
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
        const rgb = blues(p === null ? 0 : p);
        const td = el("td", "data", guess);
        td.style.background = css(rgb); td.style.color = textOn(rgb);
        td.dataset.layer = l; td.dataset.pos = i;
        td.addEventListener("mouseenter", () => lensReadout(lens, l, i));
        tr.append(td);
      });
      table.append(tr);
    });
    $("lens-readout").replaceChildren();
    busy("p-lens", false);
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

  async function refreshAblate(each) {
    busy("p-ablate", true);
    const generation = state.generation, asked = ++state.ablateAsked;
    const heads = [...state.off].map((k) => k.split(".").map(Number));
    let result;
    try {
      result = await api("ablate", { text: $("text").value, heads, position: Number($("ablate-pos").value),
                                     each: each === true });
    } catch (err) { showError($("next-ablated"), err); busy("p-ablate", false); return; }
    if (generation !== state.generation || asked !== state.ablateAsked) return;  // a newer click was sent
    if (result.heads) state.ablation = result;  // the per-head rows come once per text
    drawAblateGrid();
    $("loss-base").textContent = result.baseline_loss.toFixed(4);
    $("loss-base").dataset.loss = result.baseline_loss;
    $("loss-ablated").textContent = result.set.loss.toFixed(4);
    $("loss-ablated").dataset.loss = result.set.loss;
    const scale = Math.max(...result.next.baseline.map((r) => r.p), ...result.next.ablated.map((r) => r.p));
    $("next-base").replaceChildren(bars(result.next.baseline, scale));
    $("next-ablated").replaceChildren(bars(result.next.ablated, scale));
    busy("p-ablate", false);
  }

  // ---- sampling --------------------------------------------------------------------------------
  function samplingArgs() {
    const k = Number($("top-k").value);
    return { temperature: Number($("temperature").value), top_k: k > 0 ? k : null, top_p: Number($("top-p").value) };
  }

  async function refreshNext() {
    busy("p-sample", true);
    const generation = state.generation;
    const args = samplingArgs();
    $("temperature-out").textContent = args.temperature.toFixed(2);
    $("top-p-out").textContent = args.top_p.toFixed(2);
    let d;
    try { d = await api("next", { text: $("text").value, n: 24, ...args }); } catch (err) {
      showError($("dist"), err); busy("p-sample", false); return;
    }
    if (generation !== state.generation) return;
    $("kept").replaceChildren(args.temperature === 0 ? label("greedy")
      : label("kept", { n: d.kept, v: d.vocab, mass: (100 * d.kept_mass).toFixed(1) }));
    $("dist").replaceChildren(bars(d.bars.map((b) => ({ token: b.token, p: b.p, cut: !b.kept }))));
    $("dist").dataset.temperature = d.temperature;
    busy("p-sample", false);
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
  async function refreshWhy() {
    const box = $("why-cards");
    busy("p-why", true);
    const generation = state.generation;
    const vs = $("why-vs").value;
    let a;
    try {
      a = await api("why", { text: $("text").value, from: Number($("why-from").value), to: Number($("why-to").value),
                             vs: vs === "" ? null : Number(vs) });
    } catch (err) { showError(box, err); busy("p-why", false); return; }
    if (generation !== state.generation) return;
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
    busy("p-why", false);
  }

  // ---- wiring ----------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    applyLanguage();
    $("text-form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
    $("model").addEventListener("change", (e) => pickModel(Number(e.target.value)));
    $("lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "ko" : "en"; applyLanguage(); });
    $("attn-map").addEventListener("mousemove", hoverMap);
    $("ablate-pos").addEventListener("change", () => refreshAblate(false));
    ["why-from", "why-to", "why-vs"].forEach((id) => $(id).addEventListener("change", refreshWhy));
    ["temperature", "top-k", "top-p"].forEach((id) => $(id).addEventListener("input", scheduleNext));
    $("generate").addEventListener("click", generate);
    loadModels().catch((err) => showError($("status"), err));
    // The Hangul font loads only when Hangul appears; canvas text drawn before then is redrawn.
    if (document.fonts) document.fonts.load('12px "attnlab-hangul"', "한").then(() => { if (state.att) drawMap(); }).catch(() => {});
  });
})();
