"""Seeing inside on the real forward path: named points (record/intervene), attention capture,
explain's numbers, the shape-flow table and norm-based contributions."""
