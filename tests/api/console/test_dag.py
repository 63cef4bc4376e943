"""The task graph picture: layers follow dependencies, boxes never overlap, names are escaped."""

from __future__ import annotations

from batchd.api.console import dag


def test_layers_follow_the_longest_upstream_path() -> None:
    names = ["a", "b", "c", "d"]
    edges = [("a", "b"), ("b", "d"), ("a", "d"), ("c", "d")]

    assert dag.layers(names, edges) == {"a": 0, "b": 1, "c": 0, "d": 2}


def test_a_cycle_still_draws_every_task() -> None:
    assert dag.layers(["a", "b"], [("a", "b"), ("b", "a")]) == {"a": 1, "b": 1}


def test_boxes_do_not_overlap_and_fit_the_picture() -> None:
    tasks = [(f"t{n}", "RUNNING") for n in range(7)]
    edges = [("t0", f"t{n}") for n in range(1, 6)] + [(f"t{n}", "t6") for n in range(1, 6)]

    drawn = dag.layout(tasks, edges)

    boxes = list(drawn.boxes.values())
    for i, a in enumerate(boxes):
        assert a.x >= 0
        assert a.x + dag.WIDTH <= drawn.width
        assert a.y >= 0
        assert a.y + dag.HEIGHT <= drawn.height
        for b in boxes[i + 1 :]:
            apart_x = a.x + dag.WIDTH <= b.x or b.x + dag.WIDTH <= a.x
            apart_y = a.y + dag.HEIGHT <= b.y or b.y + dag.HEIGHT <= a.y
            assert apart_x or apart_y, (a, b)
    assert [drawn.boxes[f"t{n}"].layer for n in range(7)] == [0, 1, 1, 1, 1, 1, 2]


def test_downstream_tasks_sit_near_their_upstream_rows() -> None:
    tasks = [("a", "SUCCEED"), ("b", "SUCCEED"), ("after-b", "RUNNING"), ("after-a", "RUNNING")]

    drawn = dag.layout(tasks, [("a", "after-a"), ("b", "after-b")])

    assert drawn.boxes["after-a"].y == drawn.boxes["a"].y
    assert drawn.boxes["after-b"].y == drawn.boxes["b"].y


def test_svg_colours_nodes_by_state_links_tasks_and_escapes() -> None:
    picture = dag.svg(
        [("build", "SUCCEED"), ("test", "FAILED"), ("x<y", "PENDING")],
        [("build", "test")],
        'graph of "job"',
    )

    assert picture.startswith("<svg")
    assert picture.endswith("</svg>")
    assert 'class="dag-node st-ok" data-task="build"' in picture
    assert 'class="dag-node st-bad" data-task="test"' in picture
    assert 'href="#task-build"' in picture
    assert "x&lt;y" in picture
    assert "x<y" not in picture
    assert "graph of &#34;job&#34;" in picture
    assert picture.count('class="dag-edge"') == 1
