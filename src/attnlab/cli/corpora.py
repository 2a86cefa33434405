"""`attnlab corpora`: the built-in corpora, their sizes and licences."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("corpora", help="list the built-in text corpora",
                              description="List the built-in corpora with their sizes (characters) "
                                          "and licences. Any UTF-8 .txt file, folder of .txt files, "
                                          "or - (stdin) works as a corpus too.")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from attnlab.train.data import list_corpora

    rows = [(c.name, f"{c.characters:,}" if c.characters is not None else "not installed",
             c.licence, c.description if c.characters is not None else f"run: {c.install}")
            for c in list_corpora()]
    header = ("corpus", "characters", "licence", "contents")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    print("\nAlso: any UTF-8 .txt file, a folder of .txt files, or - to read stdin.")
    return 0
