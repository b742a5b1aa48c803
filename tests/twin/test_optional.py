"""edgekit.twin without paho-mqtt: the core works, the MQTT transport says what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgekit.errors import RuntimeUnavailableError


def test_mqtt_transport_without_paho_names_the_extra(monkeypatch):
    from edgekit.twin import Shadows, mqtt

    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)
    monkeypatch.setitem(sys.modules, "paho", None)
    with pytest.raises(RuntimeUnavailableError) as info:
        mqtt.ShadowService(Shadows(), "127.0.0.1", 1883)
    assert info.value.extra == "twin" and "edgekit[twin]" in str(info.value)


def test_core_imports_no_mqtt_client():
    import subprocess

    code = ("import sys, edgekit.twin; assert 'paho' not in sys.modules; "
            "s = edgekit.twin.Shadows(); s.update('t', '{\"state\": {}}')")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[2])
