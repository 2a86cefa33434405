"""`attnlab features`: browse what a run's sparse autoencoder found, beside the raw neurons.

    attnlab features --run runs/cpu-shakespeare-char                 # features by density
    attnlab features --run runs/cpu-shakespeare-char --feature 17    # one feature in full
    attnlab features --run runs/cpu-shakespeare-char --neurons --feature 5
    attnlab features --run runs/cpu-shakespeare-char --text "To be, or not to be"
    attnlab features --run runs/cpu-shakespeare-char --html features.html

Every number is measured on windows of the run's validation text (--tokens of them): a unit's
density (share of tokens where it is active), its top contexts (the text around its strongest
tokens, shaded by its activation), the tokens its direction promotes and suppresses (through
ffwd.down, ln_f and lm_head: Bricken et al.'s logit weights) and its specificity (the share of its
50 strongest activations that sit on its most frequent token there). Train the SAE first with
`attnlab sae --run RUN`.
"""

from __future__ import annotations

import argparse

from attnlab.cli._runtime_args import add_runtime_args, use_runtime

SHADES = " ░▒▓█"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("features", help="browse an SAE's features (and the raw neurons) of a run",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="the run folder holding the SAE")
    p.add_argument("--sae", metavar="NAME", help="the SAE's folder in the run (default: sae-blocks.0.ffwd.hidden-x4, "
                                                  "or the only one)")
    p.add_argument("--feature", type=int, metavar="I", help="show unit I in full")
    p.add_argument("--neurons", action="store_true", help="the point's raw neurons instead of the SAE's features")
    p.add_argument("--text", help="which units fire at each token of this text")
    p.add_argument("--top", type=int, default=20, help="units listed (default: 20)")
    p.add_argument("--tokens", type=int, default=16384, help="validation tokens measured (default: 16384)")
    p.add_argument("--html", metavar="FILE", help="write the whole browser (features and neurons) as one page")
    add_runtime_args(p)
    p.set_defaults(func=run)


def shaded(tokens: list[str], acts: list, top: float, at: int) -> str:
    """A context as text, each token followed by a shade of its activation: e[▓] ..."""
    out = []
    for i, (t, a) in enumerate(zip(tokens, acts)):
        level = 0 if not top or a is None or a <= 0 else min(4, 1 + int(4 * a / top - 1e-9))
        mark = f"[{SHADES[level]}]" if level else ""
        out.append(f"»{t}«{mark}" if i == at else f"{t}{mark}")
    return "".join(out)


def print_detail(d: dict) -> None:
    print(f"{d['kind']} {d['unit']}: density {100 * d['density']:.3f}% of tokens, specificity {d['specificity']}, "
          f"max activation {d['histogram']['max']:.3f}")
    counts = d["histogram"]["counts"]
    peak = max(counts) or 1
    print("histogram (0 .. max): " + "".join(" ▁▂▃▄▅▆▇█"[min(8, round(8 * c / peak))] for c in counts))
    print("top contexts (»token«, activation):")
    for c in d["contexts"]:
        print(f"  {c['value']:>8.3f}  {shaded(c['tokens'], c['acts'], d['histogram']['max'], c['at'])}")
    for name in ("promotes", "suppresses"):
        print(f"{name}: " + "  ".join(f"{t['token']!r} {t['weight']:+.3g}" for t in d[name]))


def run(args: argparse.Namespace) -> int:
    from attnlab.cli._source_args import check_writable
    from attnlab.errors import UserError
    from attnlab.labs.sae.lab import open_browser

    if args.top < 1 or args.tokens < 1:
        raise UserError("--top and --tokens must be at least 1")
    check_writable(args.html)
    use_runtime(args)
    browser, name = open_browser(args.run, args.sae, args.tokens)
    kind = "neuron" if args.neurons else "feature"
    if args.feature is not None:
        print_detail(browser.detail(kind, args.feature))
    elif args.text is not None:
        from attnlab.sources import TextModel

        idx, _ = TextModel(browser.model, browser.tokenizer, name, browser.model.config.max_seq_len).encode(args.text)
        print(f"the {kind}s most active at each token ({name}):")
        for row in browser.fire(idx, kind):
            units = ", ".join(f"{u['unit']} ({u['value']:.2f})" for u in row["units"]) or "none"
            print(f"  {row['token']!r:>8}  {units}")
    else:
        s = browser.summary()
        print(f"{name} on {s['point']}, {s['tokens']} validation tokens")
        for k in ("feature", "neuron"):
            if k in s:
                print(f"  {k}s: {s[k]['units']}, never active {s[k]['dead']}, median density "
                      f"{100 * s[k]['median_density']:.2f}%, median specificity {s[k]['median_specificity']}")
        print(f"the {args.top} densest {kind}s (unit, density, specificity, tokens it promotes):")
        for u in browser.listing(kind)[:args.top]:
            print(f"  {u['unit']:>5}  {100 * u['density']:6.2f}%  {u['specificity']}  {' '.join(map(repr, u['promotes']))}")
    if args.html:
        from attnlab.labs.sae.page import save_page

        save_page(args.html, browser.page_data(name))
        print(f"wrote {args.html}")
    return 0
