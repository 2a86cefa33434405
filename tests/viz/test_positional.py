"""attnlab.viz.positional: the positional-encoding table drawn to a PNG, atomically."""

import pytest

from attnlab.model.embeddings import sinusoidal_table


def test_positional_encoding_png(tmp_path):
    pytest.importorskip("matplotlib")
    from attnlab.viz.positional import save_positional_encoding_png

    path = tmp_path / "pe.png"
    save_positional_encoding_png(sinusoidal_table(64, 16), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pe.png"]  # no temp file left
