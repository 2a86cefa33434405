// attnlab web lab: one panel per lab (grokking, superposition, ...), drawn from GET /api/panels.
// Each lab panel is a form of the lab's settings (the same fields, defaults and help as the
// command's flags), a Run button, and the lab's answer: POST /api/<lab> runs it and answers its
// result's to_json(), which `attnlab <lab> --json` prints too. Every string goes into the page
// with textContent, never innerHTML.
(function () {
  "use strict";
  const WORDS = {
    en: { run: "Run", running: "running…", note: "The lab's settings, as the command's flags; the answer is its --json.",
          grokking: "Grokking", superposition: "Superposition", induction: "Induction heads", ladder: "The ladder",
          sae: "Sparse autoencoder", seq2seq: "Encoder-decoder" },
    ko: { run: "실행", running: "실행 중…", note: "명령의 플래그와 같은 실험 설정입니다. 답은 명령이 출력하는 결과(제이슨)와 같습니다.",
          grokking: "그로킹", superposition: "중첩", induction: "유도 헤드", ladder: "사다리", sae: "희소 오토인코더",
          seq2seq: "인코더-디코더" },
  };
  const w = (key) => (WORDS[document.documentElement.lang] || WORDS.en)[key];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // One input per setting, of the kind its default is: a number, a checkbox, a list of numbers
  // (space-separated), or text. An empty optional setting is left out (its default applies).
  function field(setting) {
    const d = setting.default, box = el("label", "lab-setting");
    box.title = setting.help;
    box.append(el("span", "data", setting.name + " "));  // the flag's name: data, never translated
    const input = el("input", "data");
    if (typeof d === "boolean") { input.type = "checkbox"; input.checked = d; }
    else if (typeof d === "number") { input.type = "number"; input.step = "any"; input.value = String(d); }
    else { input.type = "text"; input.value = Array.isArray(d) ? d.join(" ") : (d === null ? "" : String(d)); }
    box.append(input);
    const read = () => {
      if (typeof d === "boolean") return input.checked;
      if (input.value.trim() === "") return undefined;
      if (typeof d === "number") return Number(input.value);
      if (Array.isArray(d)) return input.value.trim().split(/\s+/).map(Number);
      return input.value;
    };
    return { box, name: setting.name, read };
  }

  let models = null;  // /api/models' list, in the order of the #model select's options
  async function modelRef() {
    if (models === null) models = (await (await fetch("/api/models")).json()).models;
    const m = models[Number(document.getElementById("model").value) || 0];
    return m && m.run !== undefined ? { run: m.run } : {};
  }

  function panel(p) {
    const section = el("section", "panel");
    section.id = "p-" + p.name;
    // a lab without a title of its own shows its name, as data (a command's name is not translated)
    const title = el("h2", w(p.name) ? "" : "data", w(p.name) || p.name), note = el("p", "note", w("note"));
    const fields = p.settings.map(field);
    const form = el("form", "controls"), go = el("button", "", w("run")), out = el("pre", "gen data");
    const status = el("p", "status data");
    go.type = "submit";
    form.append(...fields.map((f) => f.box), go);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      fields.forEach((f) => { const v = f.read(); if (v !== undefined) body[f.name] = v; });
      status.textContent = w("running");
      out.textContent = "";
      if (p.model) Object.assign(body, await modelRef());  // a lab on the run the page has open (the SAE)
      const response = await fetch("/api/" + p.name, { method: "POST", headers: { "Content-Type": "application/json" },
                                                      body: JSON.stringify(body) });
      const answer = await response.json().catch(() => ({ error: response.statusText }));
      status.textContent = response.ok ? "" : String(answer.error || response.statusText);
      if (response.ok) out.textContent = JSON.stringify(answer, null, 1);
    });
    new MutationObserver(() => { note.textContent = w("note"); go.textContent = w("run"); title.textContent = w(p.name) || p.name; })
      .observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
    section.append(title, note, form, status, out);
    return section;
  }

  async function start() {
    const listing = await (await fetch("/api/panels")).json();
    listing.panels.filter((p) => p.kind === "lab" && p.script === "labs.js").forEach((p) => document.getElementById("lab").append(panel(p)));
  }

  document.addEventListener("DOMContentLoaded", start);
})();
