"""Each documented shadow semantic (docs/twin.md, "Semantics") as a named test of the
transport-free core, :class:`edgekit.twin.Shadows`."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.errors import InputTypeError, ShadowError
from edgekit.twin import ShadowLimits, Shadows


class Clock:
    """A settable clock, epoch seconds."""

    def __init__(self, now: float = 1_700_000_000) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shadows(clock: Clock) -> Shadows:
    return Shadows(clock=clock)


def up(shadows: Shadows, state: dict | None, thing: str = "pump-1", **extra) -> dict:
    return shadows.update(thing, json.dumps({"state": state, **extra}))


def refused(shadows: Shadows, request, code: int, *, thing: str = "pump-1", name=None
            ) -> ShadowError:
    with pytest.raises(ShadowError) as info:
        shadows.update(thing, request, name=name)
    assert info.value.code == code, info.value
    return info.value


# --- state: desired, reported, merge ---------------------------------------------------------


def test_first_update_creates_shadow_at_version_1(shadows):
    accepted = up(shadows, {"desired": {"speed": 3}})
    assert accepted["version"] == 1
    assert shadows.get("pump-1")["state"]["desired"] == {"speed": 3}


def test_update_changes_only_the_fields_it_names(shadows):
    up(shadows, {"desired": {"speed": 3, "mode": "eco"}, "reported": {"speed": 1}})
    up(shadows, {"desired": {"speed": 5}})
    state = shadows.get("pump-1")["state"]
    assert state["desired"] == {"speed": 5, "mode": "eco"}
    assert state["reported"] == {"speed": 1}


def test_nested_objects_merge_member_by_member(shadows):
    up(shadows, {"reported": {"net": {"ip": "10.0.0.2", "rssi": -60}}})
    up(shadows, {"reported": {"net": {"rssi": -71, "ch": 6}}})
    assert shadows.get("pump-1")["state"]["reported"] == {
        "net": {"ip": "10.0.0.2", "rssi": -71, "ch": 6}}


def test_arrays_are_replaced_whole(shadows):
    up(shadows, {"desired": {"colors": ["red", "green", "blue"]}})
    up(shadows, {"desired": {"colors": ["white"]}})
    assert shadows.get("pump-1")["state"]["desired"] == {"colors": ["white"]}


def test_object_replaces_scalar_and_scalar_replaces_object(shadows):
    up(shadows, {"desired": {"a": 1, "b": {"x": 1}}})
    up(shadows, {"desired": {"a": {"y": 2}, "b": 7}})
    assert shadows.get("pump-1")["state"]["desired"] == {"a": {"y": 2}, "b": 7}


def test_null_deletes_a_key(shadows):
    up(shadows, {"desired": {"speed": 3, "mode": "eco"}})
    up(shadows, {"desired": {"mode": None}})
    assert shadows.get("pump-1")["state"]["desired"] == {"speed": 3}


def test_null_deletes_a_subtree(shadows):
    up(shadows, {"reported": {"net": {"ip": "x", "wifi": {"ch": 6}}, "t": 1}})
    up(shadows, {"reported": {"net": None}})
    assert shadows.get("pump-1")["state"]["reported"] == {"t": 1}


def test_null_inside_a_new_object_is_dropped(shadows):
    up(shadows, {"desired": {"cfg": {"a": None, "b": 2}}})
    assert shadows.get("pump-1")["state"]["desired"] == {"cfg": {"b": 2}}


def test_null_for_a_missing_key_is_a_no_op_that_still_versions(shadows):
    up(shadows, {"desired": {"a": 1}})
    assert up(shadows, {"desired": {"zzz": None}})["version"] == 2
    assert shadows.get("pump-1")["state"]["desired"] == {"a": 1}


def test_null_section_deletes_the_section(shadows):
    up(shadows, {"desired": {"a": 1}, "reported": {"a": 0}})
    up(shadows, {"desired": None})
    doc = shadows.get("pump-1")
    assert "desired" not in doc["state"] and "delta" not in doc["state"]
    assert "desired" not in doc["metadata"]
    assert doc["state"]["reported"] == {"a": 0}


def test_state_null_clears_both_sections(shadows):
    up(shadows, {"desired": {"a": 1}, "reported": {"a": 0}})
    accepted = up(shadows, None)
    assert accepted["state"] is None and accepted["version"] == 2
    doc = shadows.get("pump-1")
    assert doc["state"] == {} and doc["metadata"] == {} and doc["version"] == 2


def test_emptied_section_is_absent_from_the_document(shadows):
    up(shadows, {"desired": {"a": 1}, "reported": {"b": 1}})
    up(shadows, {"desired": {"a": None}})
    doc = shadows.get("pump-1")
    assert set(doc["state"]) == {"reported"} and set(doc["metadata"]) == {"reported"}


def test_fields_outside_state_sections_are_ignored(shadows):
    shadows.update("pump-1", json.dumps({"state": {"desired": {"a": 1}}, "metadata": {"x": 1},
                                         "foo": [1, 2]}))
    doc = shadows.get("pump-1")
    assert doc["state"] == {"desired": {"a": 1}, "delta": {"a": 1}}
    assert doc["metadata"] == {"desired": {"a": {"timestamp": 1_700_000_000}}}


def test_accepted_echoes_the_request_state_with_its_nulls(shadows, clock):
    up(shadows, {"desired": {"a": 1, "b": 2}})
    accepted = up(shadows, {"desired": {"a": None, "c": [1, 2]}, "reported": None})
    t = int(clock.now)
    assert accepted["state"] == {"desired": {"a": None, "c": [1, 2]}, "reported": None}
    assert accepted["metadata"] == {
        "desired": {"a": {"timestamp": t}, "c": [{"timestamp": t}, {"timestamp": t}]},
        "reported": {"timestamp": t}}
    assert accepted["timestamp"] == t and accepted["version"] == 2


# --- delta -----------------------------------------------------------------------------------


def test_delta_lists_desired_fields_that_reported_lacks_or_differs(shadows):
    up(shadows, {"desired": {"speed": 5, "mode": "eco", "on": True}})
    up(shadows, {"reported": {"speed": 3, "on": True, "extra": 1}})
    assert shadows.get("pump-1")["state"]["delta"] == {"speed": 5, "mode": "eco"}


def test_delta_is_the_whole_desired_state_without_reported(shadows):
    up(shadows, {"desired": {"a": {"b": 1}, "c": [1]}})
    assert shadows.get("pump-1")["state"]["delta"] == {"a": {"b": 1}, "c": [1]}


def test_delta_recurses_into_nested_objects(shadows):
    up(shadows, {"desired": {"net": {"ch": 6, "ssid": "plant"}, "t": {"lo": 1}}})
    up(shadows, {"reported": {"net": {"ch": 1, "ssid": "plant", "ip": "x"},
                              "t": {"lo": 1, "hi": 9}}})
    # "t" matches on every desired member: left out, not an empty object
    assert shadows.get("pump-1")["state"]["delta"] == {"net": {"ch": 6}}


def test_delta_compares_arrays_whole(shadows):
    up(shadows, {"desired": {"c": [1, 2, 3], "same": [1, {"a": 2}]}})
    up(shadows, {"reported": {"c": [1, 2], "same": [1, {"a": 2}]}})
    assert shadows.get("pump-1")["state"]["delta"] == {"c": [1, 2, 3]}


def test_delta_absent_when_reported_matches_desired(shadows):
    up(shadows, {"desired": {"a": 1, "b": {"c": 2.0}}})
    up(shadows, {"reported": {"a": 1.0, "b": {"c": 2}}})  # numbers compare by value
    assert "delta" not in shadows.get("pump-1")["state"]


def test_delta_tells_booleans_from_numbers(shadows):
    up(shadows, {"desired": {"on": True, "n": 0}})
    up(shadows, {"reported": {"on": 1, "n": False}})
    assert shadows.get("pump-1")["state"]["delta"] == {"on": True, "n": 0}


def test_delta_follows_type_change_between_object_and_scalar(shadows):
    up(shadows, {"desired": {"a": {"x": 1}}, "reported": {"a": 5}})
    assert shadows.get("pump-1")["state"]["delta"] == {"a": {"x": 1}}


# --- metadata --------------------------------------------------------------------------------


def test_metadata_has_a_timestamp_per_leaf_and_keeps_untouched_ones(shadows, clock):
    up(shadows, {"reported": {"a": 1, "net": {"ip": "x", "rssi": -60}}})
    t1 = int(clock.now)
    clock.now += 42
    up(shadows, {"reported": {"net": {"rssi": -70}}})
    meta = shadows.get("pump-1")["metadata"]["reported"]
    assert meta == {"a": {"timestamp": t1},
                    "net": {"ip": {"timestamp": t1}, "rssi": {"timestamp": t1 + 42}}}


def test_metadata_of_an_array_has_one_entry_per_element(shadows, clock):
    up(shadows, {"desired": {"c": ["r", {"g": 1}]}})
    t = int(clock.now)
    assert shadows.get("pump-1")["metadata"]["desired"] == {
        "c": [{"timestamp": t}, {"g": {"timestamp": t}}]}


def test_metadata_leaves_with_the_deleted_keys(shadows):
    up(shadows, {"desired": {"a": 1, "b": {"c": 1}}})
    up(shadows, {"desired": {"b": None}})
    assert set(shadows.get("pump-1")["metadata"]["desired"]) == {"a"}


def test_state_key_named_timestamp_is_an_ordinary_key(shadows, clock):
    up(shadows, {"reported": {"timestamp": {"timestamp": 3}}})
    clock.now += 1
    up(shadows, {"reported": {"timestamp": {"other": 4}}})
    doc = shadows.get("pump-1")
    assert doc["state"]["reported"] == {"timestamp": {"timestamp": 3, "other": 4}}
    t = int(clock.now)
    assert doc["metadata"]["reported"]["timestamp"] == {"timestamp": {"timestamp": t - 1},
                                                        "other": {"timestamp": t}}


# --- versions --------------------------------------------------------------------------------


def test_version_increments_on_every_accepted_update(shadows):
    versions = [up(shadows, s)["version"] for s in
                ({"desired": {"a": 1}}, {"desired": {"a": 1}}, {}, {"reported": {"a": 1}})]
    assert versions == [1, 2, 3, 4]
    assert shadows.get("pump-1")["version"] == 4
    assert [h.version for h in shadows.history("pump-1")] == [1, 2, 3, 4]


def test_update_with_the_current_version_is_accepted(shadows):
    up(shadows, {"desired": {"a": 1}})
    assert up(shadows, {"desired": {"a": 2}}, version=1)["version"] == 2


def test_update_with_a_stale_version_is_a_409_conflict_and_changes_nothing(shadows):
    up(shadows, {"desired": {"a": 1}})
    up(shadows, {"desired": {"a": 2}})
    before = shadows.get("pump-1")
    error = refused(shadows, json.dumps({"state": {"desired": {"a": 9}}, "version": 1,
                                         "clientToken": "c1"}), 409)
    assert error.message == "Version conflict" and error.client_token == "c1"
    assert shadows.get("pump-1")["state"] == before["state"]
    assert shadows.get("pump-1")["version"] == 2


def test_version_of_a_new_shadow_is_0(shadows):
    refused(shadows, json.dumps({"state": {"desired": {"a": 1}}, "version": 3}), 409)
    assert up(shadows, {"desired": {"a": 1}}, version=0)["version"] == 1


def test_invalid_version_is_a_400(shadows):
    for bad in ("1", 1.5, True, -1, [1]):
        assert refused(shadows, json.dumps({"state": {}, "version": bad}), 400).message \
            == "Invalid version"


def test_concurrent_updates_from_threads_get_distinct_gapless_versions(shadows):
    def work(k: int) -> None:
        for i in range(25):
            up(shadows, {"reported": {f"w{k}": i}})

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [h.version for h in shadows.history("pump-1")] == list(range(1, 101))
    assert shadows.get("pump-1")["state"]["reported"] == {f"w{k}": 24 for k in range(4)}


# --- clientToken -----------------------------------------------------------------------------


def test_client_token_is_echoed_by_update_get_and_delete(shadows):
    assert up(shadows, {"desired": {"a": 1}}, clientToken="tok-1")["clientToken"] == "tok-1"
    assert "clientToken" not in up(shadows, {"desired": {"a": 2}})
    assert shadows.get("pump-1", client_token="tok-2")["clientToken"] == "tok-2"
    assert shadows.delete("pump-1", client_token="tok-3")["clientToken"] == "tok-3"


def test_client_token_is_echoed_in_the_error_document(shadows):
    error = refused(shadows, json.dumps({"clientToken": "abc"}), 400)
    assert error.to_document(5) == {"code": 400, "message": "Missing required node: state",
                                    "timestamp": 5, "clientToken": "abc"}


def test_client_token_longer_than_64_bytes_is_a_400(shadows):
    assert up(shadows, {}, clientToken="x" * 64)["version"] == 1
    for bad in ("x" * 65, "é" * 33, 12):
        assert refused(shadows, json.dumps({"state": {}, "clientToken": bad}), 400).message \
            == "Invalid clientToken"
    with pytest.raises(ShadowError) as info:
        shadows.get("pump-1", client_token="y" * 65)
    assert info.value.code == 400


# --- classic and named shadows, get and delete ------------------------------------------------


def test_classic_and_named_shadows_are_independent_documents(shadows):
    shadows.update("pump-1", '{"state": {"desired": {"a": 1}}}')
    shadows.update("pump-1", '{"state": {"desired": {"a": 2}}}', name="config")
    shadows.update("pump-1", '{"state": {"desired": {"a": 3}}}', name="config")
    shadows.update("pump-2", '{"state": {"desired": {"a": 4}}}', name="config")
    assert shadows.get("pump-1")["state"]["desired"] == {"a": 1}
    assert shadows.get("pump-1")["version"] == 1
    assert shadows.get("pump-1", name="config")["state"]["desired"] == {"a": 3}
    assert shadows.get("pump-1", name="config")["version"] == 2
    assert shadows.get("pump-2", name="config")["version"] == 1
    shadows.delete("pump-1", name="config")
    assert shadows.get("pump-1")["version"] == 1


def test_get_of_a_missing_shadow_is_a_404(shadows):
    with pytest.raises(ShadowError) as info:
        shadows.get("nobody", name="x")
    assert info.value.code == 404 and info.value.message == "No shadow exists with name: 'x'"


def test_delete_of_a_missing_shadow_is_a_404(shadows):
    with pytest.raises(ShadowError) as info:
        shadows.delete("nobody")
    assert info.value.code == 404


def test_deleted_shadow_is_gone_and_deleting_again_is_a_404(shadows):
    up(shadows, {"desired": {"a": 1}})
    assert shadows.delete("pump-1")["version"] == 2
    for call in (shadows.get, shadows.delete):
        with pytest.raises(ShadowError) as info:
            call("pump-1")
        assert info.value.code == 404


def test_update_after_delete_starts_empty_and_continues_the_version(shadows):
    up(shadows, {"desired": {"a": 1}, "reported": {"b": 2}})
    shadows.delete("pump-1")
    assert up(shadows, {"reported": {"c": 3}})["version"] == 3
    doc = shadows.get("pump-1")
    assert doc["state"] == {"reported": {"c": 3}} and doc["version"] == 3
    assert [(h.version, h.operation) for h in shadows.history("pump-1")] == [
        (1, "update"), (2, "delete"), (3, "update")]


@pytest.mark.parametrize("thing,name", [("", None), ("a/b", None), ("a" * 129, None),
                                        ("pump+1", None), ("ok", ""), ("ok", "a/b"),
                                        ("ok", "a" * 65), ("ok", "#")])
def test_thing_and_shadow_names_follow_the_service_patterns(shadows, thing, name):
    error = refused(shadows, '{"state": {}}', 400, thing=thing, name=name)
    assert "name" in error.message


def test_longest_valid_names_are_accepted(shadows):
    assert shadows.update("a:B_-9" * 21 + "xx", '{"state": {}}', name="$x" * 32)["version"] == 1


# --- refusals and limits ---------------------------------------------------------------------


@pytest.mark.parametrize("request_,message", [
    ("{", "Invalid JSON"),
    ("", "Invalid JSON"),
    ('{"state": {"desired": {"a": NaN}}}', "Invalid JSON"),
    ('{"state": {"desired": {"a": 1, "a": 2}}}', "Invalid JSON"),
    ('[{"state": {}}]', "Invalid JSON: an update is a JSON object"),
    ('"state"', "Invalid JSON: an update is a JSON object"),
    ("{}", "Missing required node: state"),
    ('{"state": [1]}', "State node must be an object"),
    ('{"state": "on"}', "State node must be an object"),
    ('{"state": {"desired": 3}}', "Desired node must be an object"),
    ('{"state": {"reported": [1]}}', "Reported node must be an object"),
    ('{"state": {"delta": {"a": 1}}}', "State contains an invalid node"),
    ('{"state": {"desired": {}, "foo": {}}}', "State contains an invalid node"),
])
def test_malformed_update_is_a_400_with_the_service_message(shadows, request_, message):
    up(shadows, {"desired": {"keep": 1}})
    assert refused(shadows, request_, 400).message == message
    assert shadows.get("pump-1")["state"]["desired"] == {"keep": 1}
    assert shadows.get("pump-1")["version"] == 1


def _nested(levels: int) -> dict:
    value: object = 1
    for i in range(levels):
        value = {f"l{levels - i}": value}
    return value  # type: ignore[return-value]


def test_nesting_depth_6_is_accepted_and_7_is_a_400(shadows):
    assert up(shadows, {"desired": _nested(6)})["version"] == 1
    assert up(shadows, {"reported": {"a": [[[[[1]]]]]}})["version"] == 2  # arrays count too
    for deep in ({"desired": _nested(7)}, {"reported": {"a": [[[[[[1]]]]]]}}):
        error = refused(shadows, json.dumps({"state": deep}), 400)
        assert error.message == "JSON contains too many levels of nesting; maximum is 6"
    assert shadows.get("pump-1")["version"] == 2


def test_pathologically_deep_json_is_a_400_not_a_crash(shadows):
    refused(shadows, "[" * 60_000 + "]" * 60_000, 400)
    refused(shadows, '{"state": {"desired": ' + '{"a":' * 20_000 + "1" + "}" * 20_002, 400)


def _padding(n: int) -> str:
    return "x" * n


def test_state_over_8_kib_is_a_413_and_changes_nothing(shadows):
    # {"desired":{"p":"..."}} is 20 bytes + the string
    assert up(shadows, {"desired": {"p": _padding(8192 - 20)}})["version"] == 1
    assert refused(shadows, json.dumps({"state": {"reported": {"q": 1}}}), 413).message \
        == "The payload exceeds the maximum size allowed"
    assert shadows.get("pump-1")["version"] == 1
    assert "reported" not in shadows.get("pump-1")["state"]


def test_size_limit_counts_the_merged_state_not_the_request(shadows):
    for i in range(4):
        up(shadows, {"reported": {f"k{i}": _padding(1900)}})
    refused(shadows, json.dumps({"state": {"desired": {"z": _padding(700)}}}), 413)
    # a request that shrinks the document is accepted although the document was near full
    assert up(shadows, {"reported": {"k0": None}, "desired": {"z": _padding(700)}})["version"] \
        == 5


def test_size_limit_does_not_count_metadata(shadows):
    # 600 leaves: the metadata alone is ~ 600 * 25 bytes, far above 8 KiB; the state is not
    state = {"desired": {f"{i:03d}": 0 for i in range(600)}}
    assert up(shadows, state)["version"] == 1
    assert len(json.dumps(shadows.get("pump-1")["metadata"])) > 8192


def test_size_limit_counts_utf8_bytes(shadows):
    refused(shadows, json.dumps({"state": {"desired": {"p": "é" * 4090}}},
                                ensure_ascii=False), 413)
    assert up(shadows, {"desired": {"p": "é" * 4080}})["version"] == 1


def test_request_over_128_kib_is_a_413(shadows):
    big = json.dumps({"state": {"desired": {"a": None}}, "pad": _padding(128 * 1024)})
    assert refused(shadows, big, 413).code == 413
    assert refused(shadows, big.encode(), 413).code == 413


def test_not_utf8_is_a_415(shadows):
    assert refused(shadows, b'{"state": {"desired": {"a": "\xff"}}}', 415).message == \
        "Unsupported documented encoding; supported encoding is UTF-8"
    refused(shadows, '{"state": {"desired": {"a": "\ud800"}}}', 415)
    # the same as a JSON escape: valid JSON, not UTF-8 text (in a value, a key, the token)
    for request in (rb'{"state": {"desired": {"a": "\ud800"}}}',
                    rb'{"state": {"desired": {"\uDC00": 1}}}',
                    rb'{"state": {"reported": {"a": ["x\ud83d"]}}}',
                    rb'{"state": {}, "clientToken": "\ud800"}'):
        refused(shadows, request, 415)
        refused(shadows, request.decode(), 415)
    # an escaped surrogate pair is one character: accepted
    assert shadows.update("t", rb'{"state": {"desired": {"a": "\ud83d\ude00"}}}')[
        "state"]["desired"] == {"a": "\U0001F600"}


def test_custom_limits_apply(clock):
    shadows = Shadows(limits=ShadowLimits(state_bytes=100, depth=2, client_token_bytes=4),
                      clock=clock)
    refused(shadows, json.dumps({"state": {"desired": {"p": _padding(100)}}}), 413)
    refused(shadows, json.dumps({"state": {"desired": {"a": {"b": {"c": 1}}}}}), 400)
    refused(shadows, json.dumps({"state": {}, "clientToken": "abcde"}), 400)
    assert up(shadows, {"desired": {"a": {"b": 1}}}, clientToken="abcd")["version"] == 1
    with pytest.raises(InputTypeError):
        ShadowLimits(depth=0)


def test_request_may_be_bytes_and_nothing_else(shadows):
    assert shadows.update("pump-1", b'{"state": {"desired": {"a": 1}}}')["version"] == 1
    assert shadows.update("pump-1", bytearray(b'{"state": {}}'))["version"] == 2
    with pytest.raises(InputTypeError):
        shadows.update("pump-1", {"state": {}})  # type: ignore[arg-type]


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_input_is_accepted_or_refused_with_a_shadow_error(data):
    shadows = Shadows(clock=Clock())
    try:
        accepted = shadows.update("t", data)
    except ShadowError as error:
        assert error.code in (400, 409, 413, 415)
        with pytest.raises(ShadowError):
            shadows.get("t")
    else:
        assert accepted["version"] == 1 and shadows.get("t")["version"] == 1


def test_shadow_error_is_an_edgekit_value_error():
    from edgekit.errors import EdgekitError
    error = ShadowError(409, "Version conflict", client_token="t")
    assert isinstance(error, EdgekitError) and isinstance(error, ValueError)
    assert str(error) == "Version conflict" and error.code == 409


# --- what a transport publishes --------------------------------------------------------------


def test_apply_update_gives_previous_and_current_documents(shadows):
    up(shadows, {"desired": {"a": 1}})
    result = shadows.apply_update("pump-1", '{"state": {"reported": {"a": 0}}, "clientToken": "k"}')
    assert result.previous == {"state": {"desired": {"a": 1}, "delta": {"a": 1}},
                               "metadata": {"desired": {"a": {"timestamp": 1_700_000_000}}},
                               "version": 1}
    assert result.current["state"] == {"desired": {"a": 1}, "reported": {"a": 0},
                                       "delta": {"a": 1}}
    assert result.current["version"] == 2
    docs = result.documents()
    assert docs["clientToken"] == "k" and docs["previous"]["version"] == 1
    assert result.delta is None  # no desired in the request: no delta message


def test_delta_message_only_when_desired_changed_and_differs(shadows, clock):
    first = shadows.apply_update("pump-1", '{"state": {"desired": {"a": 1, "b": {"c": 2}}}}')
    assert first.previous is None
    assert first.delta == {"state": {"a": 1, "b": {"c": 2}},
                           "metadata": {"a": {"timestamp": int(clock.now)},
                                        "b": {"c": {"timestamp": int(clock.now)}}},
                           "version": 1, "timestamp": int(clock.now)}
    up(shadows, {"reported": {"a": 1, "b": {"c": 2}}})
    assert shadows.apply_update("pump-1", '{"state": {"desired": {"a": 1}}}').delta is None
    assert shadows.apply_update("pump-1", '{"state": {"desired": {"b": {"c": 3}}}}').delta[
        "state"] == {"b": {"c": 3}}
