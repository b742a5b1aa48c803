"""moto's IoT data-plane mock as an oracle: hypothesis-generated sequences of updates, gets and
deletes go to edgekit's Shadows and to moto (boto3 ``iot-data``, in process, no network), and
state, delta, version and refusal codes are compared (timestamps are not).

Where moto departs from the documented service the comparison allows exactly the known
departures, and ``test_moto_diverges_*`` pin each one (docs/twin.md, "moto as an oracle"):
if a moto release fixes one, its test fails and the list in docs/twin.md must be updated.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgekit.errors import ShadowError
from edgekit.twin import Shadows
from edgekit.twin._document import json_equal

boto3 = pytest.importorskip("boto3", reason="the moto oracle needs boto3 (the [test] extra)")
moto = pytest.importorskip("moto", reason="the moto oracle needs moto[iotdata] ([test] extra)")
from botocore.exceptions import ClientError  # noqa: E402

REGION = "us-east-1"
_names = (f"thing-{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def aws():
    """One moto session for the module (fake credentials, no network); each example uses
    a thing of its own."""
    patch = pytest.MonkeyPatch()
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_SESSION_TOKEN", "testing"), ("AWS_DEFAULT_REGION", REGION)):
        patch.setenv(key, value)
    with moto.mock_aws():
        yield (boto3.client("iot", region_name=REGION),
               boto3.client("iot-data", region_name=REGION))
    patch.undo()


class Moto:
    """moto behind the Shadows interface: dict results, ShadowError with the HTTP status."""

    def __init__(self, aws, thing: str) -> None:
        self.iot, self.data = aws
        self.iot.create_thing(thingName=thing)  # moto knows shadows of registered things only

    def _call(self, method, **kwargs) -> dict[str, Any]:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            return json.loads(method(**kwargs)["payload"].read())
        except ClientError as error:
            raise ShadowError(error.response["ResponseMetadata"]["HTTPStatusCode"],
                              error.response["Error"].get("Message", "")) from None

    def update(self, thing: str, request: str, *, name: str | None = None) -> dict[str, Any]:
        return self._call(self.data.update_thing_shadow, thingName=thing, shadowName=name,
                          payload=request.encode())

    def get(self, thing: str, *, name: str | None = None) -> dict[str, Any]:
        return self._call(self.data.get_thing_shadow, thingName=thing, shadowName=name)

    def delete(self, thing: str, *, name: str | None = None) -> dict[str, Any]:
        return self._call(self.data.delete_thing_shadow, thingName=thing, shadowName=name)


def outcome(call, *args, **kwargs) -> tuple[str, Any]:
    try:
        return "ok", call(*args, **kwargs)
    except ShadowError as error:
        return "refused", error.code


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# --- the known departures of moto's delta -------------------------------------------------


def _python_equal_json_different(a: Any, b: Any) -> bool:
    """moto compares with Python's ``==``, for which ``True == 1`` and ``{"x": True} ==
    {"x": 1}``; JSON (and edgekit) tell booleans from numbers."""
    return a == b and not json_equal(a, b)


def _only_empty_objects(v: object) -> bool:
    """{} or an object of such objects: what moto keeps of a subtree that matches all down."""
    return isinstance(v, dict) and all(_only_empty_objects(x) for x in v.values())


def delta_agrees(ours: dict, motos: dict, desired: dict, reported: dict) -> bool:
    """True when edgekit's delta equals moto's up to the two known departures: moto keeps an
    object whose desired members all match as ``{}``, and moto treats booleans as numbers."""
    for key in ours.keys() | motos.keys():
        want, have = desired.get(key), reported.get(key)
        if key in ours and key in motos:
            if isinstance(ours[key], dict) and isinstance(motos[key], dict) \
                    and isinstance(want, dict) and isinstance(have, dict):
                if not delta_agrees(ours[key], motos[key], want, have):
                    return False
            elif canonical(ours[key]) != canonical(motos[key]):
                return False
        elif key in motos:  # moto only: an all-matching object kept as {} (at any depth)
            if not (_only_empty_objects(motos[key]) and isinstance(want, dict)
                    and isinstance(have, dict)):
                return False
        elif not (key in reported and _python_equal_json_different(want, have)):
            return False  # edgekit only: must be a boolean/number mismatch moto cannot see
    return True


# --- the generated sequences ----------------------------------------------------------------

_keys = st.sampled_from(["a", "b", "c"])
_scalars = (st.booleans() | st.integers(-2, 2) | st.sampled_from([0.0, 1.0, 2.5])
            | st.text("xy", max_size=2))
_values = st.recursive(_scalars | st.lists(_scalars, max_size=3),
                       lambda inner: st.dictionaries(_keys, st.one_of(inner, inner, st.none()),
                                                     max_size=3),
                       max_leaves=6)
_members = st.dictionaries(_keys, st.one_of(_values, _values, _values, st.none()), min_size=1,
                           max_size=3)
# no null section: moto ignores "desired": null (pinned below)
_section = st.one_of(_members, _members, _members, st.just({}))
_state = st.one_of(*[st.fixed_dictionaries({}, optional={"desired": _section,
                                                          "reported": _section})] * 6,
                   st.none())
_ops = st.lists(st.tuples(
    st.sampled_from(["update", "update", "update", "get", "delete"]),
    st.sampled_from([None, "cfg"]),
    _state,
    st.sampled_from([None, None, None, "current", "stale"]),
    st.sampled_from([None, "tok"])), min_size=1, max_size=10)


def _compare_documents(ours: dict, motos: dict) -> None:
    assert ours["version"] == motos["version"]
    for section in ("desired", "reported"):
        assert canonical(ours["state"].get(section)) == canonical(motos["state"].get(section))
    assert delta_agrees(ours["state"].get("delta", {}), motos["state"].get("delta", {}),
                        ours["state"].get("desired", {}), ours["state"].get("reported", {}))


_oracle_settings = settings(max_examples=60, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow])


@_oracle_settings
@given(ops=_ops)
def test_sequences_of_updates_agree_with_moto(aws, ops):
    """Mixed updates (either section, nulls, state null, current and stale versions, tokens),
    gets and deletes of a classic and a named shadow."""
    _run(aws, ops)


@_oracle_settings
@given(steps=st.lists(st.tuples(st.sampled_from(["desired", "reported"]), _members),
                      min_size=2, max_size=8))
def test_desired_reported_traffic_agrees_with_moto(aws, steps):
    """An application writing desired and a device writing reported, one shadow: the delta
    after every step."""
    _run(aws, [("update", None, {section: members}, None, None) for section, members in steps])


def _run(aws, ops) -> None:
    thing = next(_names)
    ours, theirs = Shadows(clock=lambda: 1_700_000_000), Moto(aws, thing)
    versions: dict[str | None, int] = {}   # the current version, per shadow name
    live: dict[str | None, bool] = {}      # whether the shadow exists (not deleted)
    for op, name, state, version, token in ops:
        if op == "update":
            request: dict[str, Any] = {"state": state}
            if version is not None and name in versions:  # see the divergence below
                request["version"] = versions[name] - (version == "stale")
            if token is not None:
                request["clientToken"] = token
            text = json.dumps(request)
            a, b = outcome(ours.update, thing, text, name=name), \
                outcome(theirs.update, thing, text, name=name)
            assert a[0] == b[0], (request, a, b)
            event(f"update {a[0]}")
            if a[0] == "ok":
                assert a[1]["version"] == b[1]["version"]
                versions[name], live[name] = a[1]["version"], True
                sent = {k: v for k, v in (state or {}).items() if v is not None}
                assert canonical({k: v for k, v in (a[1]["state"] or {}).items()
                                  if v is not None}) == canonical(sent)
            else:
                assert a[1] == b[1] == 409
        elif op == "delete":
            if not live.get(name):
                continue  # moto "deletes" a deleted shadow again: a known divergence
            a, b = outcome(ours.delete, thing, name=name), outcome(theirs.delete, thing,
                                                                    name=name)
            assert a[0] == b[0] == "ok" and a[1]["version"] == b[1]["version"]
            versions[name], live[name] = a[1]["version"], False
        a, b = outcome(ours.get, thing, name=name), outcome(theirs.get, thing, name=name)
        assert a[0] == b[0], (op, a, b)
        if a[0] == "ok":
            _compare_documents(a[1], b[1])
            event("get: delta" if "delta" in a[1]["state"] else "get: no delta")
        else:
            assert a[1] == b[1] == 404


def test_oracle_comparison_is_not_vacuous(aws):
    """The comparison sees real differences: a different state or version fails it."""
    thing = next(_names)
    ours, theirs = Shadows(), Moto(aws, thing)
    ours.update(thing, '{"state": {"desired": {"a": {"b": 1}}, "reported": {"a": {"b": 2}}}}')
    theirs.update(thing, '{"state": {"desired": {"a": {"b": 1}}, "reported": {"a": {"b": 3}}}}')
    with pytest.raises(AssertionError):
        _compare_documents(ours.get(thing), theirs.get(thing))
    assert not delta_agrees({"a": 1}, {"a": 2}, {"a": 1}, {})
    assert not delta_agrees({}, {"a": 1}, {"a": 1}, {})


# --- where moto departs from the documented service -------------------------------------


def _moto_only(aws, request: str) -> tuple[str, Any]:
    thing = next(_names)
    return outcome(Moto(aws, thing).update, thing, request)


def test_moto_diverges_no_state_size_limit(aws):
    request = json.dumps({"state": {"desired": {"p": "x" * 9000}}})
    assert outcome(Shadows().update, "t", request) == ("refused", 413)
    assert _moto_only(aws, request)[0] == "ok"


def test_moto_diverges_no_nesting_limit(aws):
    deep: Any = 1
    for _ in range(8):
        deep = {"k": deep}
    request = json.dumps({"state": {"desired": deep}})
    assert outcome(Shadows().update, "t", request) == ("refused", 400)
    assert _moto_only(aws, request)[0] == "ok"


def test_moto_diverges_no_client_token_limit_and_no_echo(aws):
    request = json.dumps({"state": {}, "clientToken": "x" * 65})
    assert outcome(Shadows().update, "t", request) == ("refused", 400)
    status, response = _moto_only(aws, request)
    assert status == "ok" and "clientToken" not in response
    assert Shadows().update("t", '{"state": {}, "clientToken": "c"}')["clientToken"] == "c"


def test_moto_diverges_keeps_matching_nested_objects_in_delta(aws):
    thing = next(_names)
    moto_shadows = Moto(aws, thing)
    request = '{"state": {"desired": {"a": {"x": 1}}, "reported": {"a": {"x": 1, "y": 2}}}}'
    moto_shadows.update(thing, request)
    assert moto_shadows.get(thing)["state"]["delta"] == {"a": {}}
    ours = Shadows()
    ours.update(thing, request)
    assert "delta" not in ours.get(thing)["state"]


def test_moto_diverges_booleans_equal_numbers_in_delta(aws):
    thing = next(_names)
    moto_shadows = Moto(aws, thing)
    request = '{"state": {"desired": {"on": true}, "reported": {"on": 1}}}'
    moto_shadows.update(thing, request)
    assert "delta" not in moto_shadows.get(thing)["state"]
    ours = Shadows()
    ours.update(thing, request)
    assert ours.get(thing)["state"]["delta"] == {"on": True}


def test_moto_diverges_ignores_a_null_section(aws):
    thing = next(_names)
    moto_shadows = Moto(aws, thing)
    moto_shadows.update(thing, '{"state": {"reported": {"a": 1}}}')
    moto_shadows.update(thing, '{"state": {"reported": null}}')
    assert moto_shadows.get(thing)["state"]["reported"] == {"a": 1}
    ours = Shadows()
    ours.update(thing, '{"state": {"reported": {"a": 1}}}')
    ours.update(thing, '{"state": {"reported": null}}')
    assert "reported" not in ours.get(thing)["state"]


def test_moto_diverges_deletes_a_deleted_shadow_again(aws):
    thing = next(_names)
    moto_shadows = Moto(aws, thing)
    moto_shadows.update(thing, '{"state": {"desired": {"a": 1}}}')
    moto_shadows.delete(thing)
    assert outcome(moto_shadows.delete, thing)[0] == "ok"
    ours = Shadows()
    ours.update(thing, '{"state": {"desired": {"a": 1}}}')
    ours.delete(thing)
    assert outcome(ours.delete, thing) == ("refused", 404)


def test_moto_diverges_crashes_on_version_for_a_new_shadow(aws):
    thing = next(_names)
    with pytest.raises(AttributeError):  # moto's own bug, not a service answer
        Moto(aws, thing).update(thing, '{"state": {}, "version": 0}')
    assert Shadows().update("t", '{"state": {}, "version": 0}')["version"] == 1


def test_moto_diverges_needs_a_registered_thing(aws):
    iot, data = aws
    with pytest.raises(ClientError) as info:
        data.update_thing_shadow(thingName=next(_names), payload=b'{"state": {}}')
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert Shadows().update("unregistered", '{"state": {}}')["version"] == 1


def test_moto_diverges_wrong_section_type_is_a_server_error(aws):
    request = '{"state": {"desired": 3}}'
    assert outcome(Shadows().update, "t", request) == ("refused", 400)
    with pytest.raises(Exception) as info:  # noqa: B017 - moto raises from inside merge_dicts
        _moto_only(aws, request)
    assert not isinstance(info.value, (ShadowError, AssertionError))
