"""fastfit._class_weight.class_weights, the one class-weight rule of the estimators and
the classification losses, against scikit-learn's compute_class_weight."""

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from fastfit._class_weight import class_weights


@pytest.mark.parametrize("labels", [np.array([3, 7, 9]), np.array(["a", "b", "c"]),
                                    np.array([-1.0, 0.5, 2.0])])
@pytest.mark.parametrize("weighted", [False, True])
def test_balanced_and_dict_weights_equal_scikit_learns(labels, weighted):
    rng = np.random.default_rng(0)
    idx = rng.choice(3, size=50, p=[0.6, 0.3, 0.1])
    y = labels[idx]
    sw = rng.uniform(0.1, 2.0, size=50) if weighted else None
    got = class_weights("balanced", labels, idx, sw)
    np.testing.assert_array_equal(got, compute_class_weight("balanced", classes=labels, y=y,
                                                            sample_weight=sw))
    cw = {labels[0].item(): 3.0, labels[2].item(): 0.25}
    np.testing.assert_array_equal(class_weights(cw, labels, idx),
                                  compute_class_weight(cw, classes=labels, y=y))
    np.testing.assert_array_equal(class_weights(None, labels, idx), np.ones(3))


def test_absent_classes_and_unknown_keys():
    classes = np.array([0, 1, 2, 3])
    idx = np.array([0, 0, 0, 2])   # classes 1 and 3 absent (a partial_fit chunk)
    np.testing.assert_array_equal(class_weights("balanced", classes, idx),
                                  [4 / (2 * 3), 0.0, 4 / (2 * 1), 0.0])
    # every class listed: extra keys are a fold's missing classes, as scikit-learn allows
    both = np.array([0, 1])
    np.testing.assert_array_equal(class_weights({0: 2.0, 1: 1.0, 5: 9.0}, both, idx % 2),
                                  [2.0, 1.0])
    with pytest.raises(ValueError, match=r"The classes, \[1\], are not in class_weight"):
        class_weights({0: 2.0, 5: 9.0}, both, idx % 2)


@pytest.mark.parametrize("bad", [{0: np.nan}, {0: -1.0}, {0: np.inf}, {0: "x"}])
def test_bad_dict_weights_are_refused(bad):
    with pytest.raises(ValueError, match=r"class_weight\[0\] must be a finite number >= 0"):
        class_weights(bad, np.array([0, 1]), np.array([0, 1]))


@pytest.mark.parametrize("bad", ["weird", ["balanced"], 3.0])
def test_other_values_are_refused(bad):
    with pytest.raises(ValueError, match="class_weight must be None, 'balanced' or a dict"):
        class_weights(bad, np.array([0, 1]), np.array([0, 1]))
