"""`attnlab features --html FILE`: the feature browser as one self-contained page.

Data in (the dicts of attnlab.labs.sae.browse), HTML out: one JSON block, inline CSS and JS, no
network URL (the Content-Security-Policy forbids any request), every token placed with
`textContent`, so a token like `</script>` or `<b>` is shown, never run. Left: the units of the
chosen kind (SAE features or neurons), densest first; right: the chosen one's density,
histogram, top contexts (each token shaded by the unit's activation) and logit weights.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from attnlab.io import atomic_write
from attnlab.viz.html import CSP, json_for_script

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;display:flex;height:100vh}
#list{width:22em;overflow:auto;border-right:1px solid #ccc}
#list div{padding:2px 6px;cursor:pointer;white-space:nowrap}#list div.on{background:#dde}
#view{flex:1;overflow:auto;padding:8px 16px}
.ctx{font-family:monospace;white-space:pre;margin:2px 0}.ctx span{padding:0 1px}.ctx .at{outline:1px solid #c33}
.bars span{display:inline-block;width:12px;background:#57a;vertical-align:bottom;margin-right:1px}
.tok{font-family:monospace;background:#eee;padding:0 3px;margin:0 2px}
"""

SCRIPT = """
const D = JSON.parse(document.getElementById('attnlab-data').textContent);
const $ = (t, cls, text) => { const e = document.createElement(t); if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text; return e; };
let kind = D.kinds.feature ? 'feature' : 'neuron';
function shade(v, max) { const a = max > 0 ? Math.max(0, v) / max : 0; return `rgba(230,90,30,${a.toFixed(3)})`; }
function show(unit) {
  const d = D.kinds[kind].details[unit], view = document.getElementById('view');
  view.replaceChildren($('h2', '', `${kind} ${unit}`));
  view.append($('p', '', `density ${(100 * d.density).toFixed(3)}% of tokens, specificity ${d.specificity}, max ${d.histogram.max.toFixed(3)}`));
  const bars = $('div', 'bars'), top = Math.max(1, ...d.histogram.counts);
  d.histogram.counts.forEach(c => { const b = $('span'); b.style.height = (60 * c / top + 1) + 'px'; b.title = c; bars.append(b); });
  view.append($('h3', '', 'activations (0 to max)'), bars, $('h3', '', 'top contexts'));
  d.contexts.forEach(c => { const line = $('div', 'ctx');
    c.tokens.forEach((t, i) => { const s = $('span', i === c.at ? 'at' : '', t); s.style.background = shade(c.acts[i], d.histogram.max);
      s.title = c.acts[i]; line.append(s); });
    line.append($('span', '', `  ${c.value}`)); view.append(line); });
  for (const [name, list] of [['promotes', d.promotes], ['suppresses', d.suppresses]]) {
    const p = $('p', '', name + ': '); list.forEach(t => p.append($('span', 'tok', t.token))); view.append(p); }
}
function list() {
  const box = document.getElementById('list');
  const pick = $('select'); Object.keys(D.kinds).forEach(k => { const o = $('option', '', k + 's'); o.value = k; pick.append(o); });
  pick.value = kind; pick.onchange = () => { kind = pick.value; list(); };
  box.replaceChildren(pick, $('p', '', D.title));
  D.kinds[kind].listing.forEach(u => { const row = $('div', '', `${u.unit}  ${(100 * u.density).toFixed(2)}%  ${u.promotes.join(' ')}`);
    row.onclick = () => { box.querySelectorAll('.on').forEach(e => e.classList.remove('on')); row.classList.add('on'); show(u.unit); };
    box.append(row); });
  if (D.kinds[kind].listing.length) show(D.kinds[kind].listing[0].unit);
}
list();
"""

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title><style>{style}</style></head>
<body><div id="list"></div><div id="view"></div>
<script type="application/json" id="attnlab-data">{data}</script>
<script>{script}</script></body></html>
"""


def render_page(data: dict[str, Any]) -> str:
    """data: {"title", "kinds": {"feature"|"neuron": {"listing": [...], "details": {unit: detail}}}}."""
    return PAGE.format(csp=CSP, title=html.escape(data["title"]), style=STYLE, data=json_for_script(data),
                       script=SCRIPT)


def save_page(path: str | Path, data: dict[str, Any]) -> Path:
    text = render_page(data)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
