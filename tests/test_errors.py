"""One error module: every class drawn in its docstring's tree, one retry rule for HTTP answers."""

from __future__ import annotations

import inspect

import pytest

import deconnexion
from deconnexion import errors
from deconnexion.release import deliver


def drawn_tree() -> dict[str, str]:
    """{class: the class it is drawn under} from the errors.py docstring."""
    parents: dict[str, str] = {}
    path = ["DeconnexionError"]  # the classes above the current line, by depth
    for line in (errors.__doc__ or "").splitlines():
        if "── " not in line:
            continue
        depth = (line.index("── ") - 5) // 4 + 1
        name = line.split("── ")[1].split()[0]
        del path[depth:]
        parents[name] = path[-1]
        path.append(name)
    return parents


def test_every_error_class_is_drawn_in_the_tree_under_its_parent():
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, errors.DeconnexionError)
    }
    tree = drawn_tree()
    assert set(tree) == set(classes) - {"DeconnexionError"}
    for name, parent in tree.items():
        assert classes[parent] in classes[name].__bases__, (name, parent)


def test_delivery_errors_are_the_same_classes_wherever_they_are_imported_from():
    assert deconnexion.DeliveryError is errors.DeliveryError is deliver.DeliveryError
    assert deconnexion.PermanentDeliveryError is errors.PermanentDeliveryError
    assert deliver.PermanentDeliveryError is errors.PermanentDeliveryError
    assert issubclass(errors.PermanentDeliveryError, errors.DeliveryError)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (0, True),  # no answer at all
        (302, True),  # a webhook that redirects has not accepted the message
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (410, False),
        (422, False),
        (425, True),
        (429, True),
        (499, False),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_a_4xx_answer_is_permanent_unless_it_means_not_now(status: int, retryable: bool):
    assert errors.retryable_status(status) is retryable
