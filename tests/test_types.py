"""Shared dataclasses validate themselves and are immutable."""

import dataclasses

import pytest

from edgekit.errors import InputError
from edgekit.types import BoundingBox, Category, Detection, Node, SensorReading, Task


def test_node_and_task_copy_and_freeze_their_mappings():
    cap = {"cpu": 4.0, "mem_mib": 8192}
    node = Node("n1", cap, labels={"zone": "a"})
    cap["cpu"] = 99
    assert node.capacity["cpu"] == 4.0
    with pytest.raises(TypeError):
        node.capacity["cpu"] = 1  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.name = "x"  # type: ignore[misc]
    assert Task("t", {"cpu": 0.0}).demand["cpu"] == 0.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Node("", {"cpu": 1}),
        lambda: Node("n", {"cpu": -1}),
        lambda: Node("n", {"cpu": float("nan")}),
        lambda: Node("n", {"cpu": 1}, taints="gpu"),
        lambda: Task("t", {"cpu": float("inf")}),
        lambda: Task("t", {"": 1}),
        lambda: Task("t", {"cpu": 1}, duration_s=-1),
        lambda: BoundingBox(0, 0, -1, 2),
        lambda: BoundingBox(float("nan"), 0, 1, 2),
        lambda: SensorReading(1.5, 2.0),  # type: ignore[arg-type]
        lambda: SensorReading(1, 2.0, quality=300),
    ],
)
def test_bad_values_name_the_field(make):
    with pytest.raises(InputError) as info:
        make()
    assert isinstance(info.value, ValueError) and info.value.name


def test_bounding_box_iou():
    a = BoundingBox(0, 0, 10, 10)
    assert a.iou(a) == 1.0
    assert a.iou(BoundingBox(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert a.iou(BoundingBox(20, 20, 1, 1)) == 0.0
    d = Detection(a, [Category(0, 0.9, "face")])
    assert d.categories == (Category(0, 0.9, "face"),) and d.keypoints == ()
