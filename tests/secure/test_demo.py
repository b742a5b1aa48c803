"""The ``edgekit demo`` secure section runs end to end and reports real outcomes."""

from __future__ import annotations

import io

from edgekit.secure import _demo


def test_demo_section():
    out = io.StringIO()
    rows = _demo.run(out)
    text = out.getvalue()
    assert "TLSv1.3" in text and "verified the device as 'dev-7'" in text
    by_what = {r.what: r for r in rows}
    refusal = by_what["verify_device_cert: rogue, expired, no-clientAuth"]
    assert (refusal.edgekit, refusal.article) == ("refused 3/3", "accepted 3/3")
    assert any("1-bit edit refused" in r.edgekit for r in rows)
    assert _demo._model_path().is_file()
