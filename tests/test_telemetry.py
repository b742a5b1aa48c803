from edgekit import _telemetry


def test_events_reach_registered_sinks_only_while_registered():
    seen = []

    def sink(event, fields):
        seen.append((event, fields))

    _telemetry.emit("compress.encode", bytes_in=1)
    _telemetry.add_sink(sink)
    try:
        assert _telemetry.enabled()
        _telemetry.emit("compress.encode", bytes_in=8, bytes_out=2)
    finally:
        _telemetry.remove_sink(sink)
    _telemetry.emit("compress.encode", bytes_in=3)
    assert seen == [("compress.encode", {"bytes_in": 8, "bytes_out": 2})]
