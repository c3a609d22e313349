"""The head/loss table (docs/guide/how-fit-works.md, step 4) and the choice of the default metric."""

import numpy as np
import pytest

from autosearch.errors import AutosearchError
from autosearch.metrics import default_metric, get_metric
from autosearch.tasks import Head, Task, head_for, network_scores


@pytest.mark.parametrize("task, n, loss, expected", [
    (Task.BINARY, 2, None, Head(1, "sigmoid", "binary_crossentropy")),
    (Task.MULTICLASS, 5, None, Head(5, "softmax", "sparse_categorical_crossentropy")),
    (Task.MULTILABEL, 4, None, Head(4, "sigmoid", "binary_crossentropy")),
    (Task.REGRESSION, 1, None, Head(1, None, "mse")),
    (Task.REGRESSION, 3, "mae", Head(3, None, "mae")),
])
def test_head_and_loss_follow_the_task(task, n, loss, expected):
    assert head_for(task, n, loss) == expected


def test_unknown_regression_loss_is_refused():
    with pytest.raises(AutosearchError, match="use one of mse, mae"):
        head_for(Task.REGRESSION, 1, "quantile")


def test_binary_network_output_becomes_two_class_probabilities():
    scores = network_scores(Task.BINARY, np.array([[0.2], [0.9]]))
    assert np.allclose(scores, [[0.8, 0.2], [0.1, 0.9]])


@pytest.mark.parametrize("task, ratio, expected", [
    (Task.BINARY, 0.9, "accuracy"),
    (Task.BINARY, 0.1, "roc_auc"),
    (Task.MULTICLASS, 0.8, "accuracy"),
    (Task.MULTICLASS, 0.2, "balanced_accuracy"),
    (Task.MULTILABEL, None, "f1_macro"),
    (Task.REGRESSION, None, "rmse"),
])
def test_default_metric_is_not_flattered_by_imbalance(task, ratio, expected):
    metric, reason = default_metric(task, ratio)
    assert metric.name == expected and reason


def test_metric_must_fit_the_task():
    assert get_metric("mae", Task.REGRESSION).greater_is_better is False
    with pytest.raises(AutosearchError, match="does not apply to a regression task"):
        get_metric("accuracy", Task.REGRESSION)
    with pytest.raises(AutosearchError, match="unknown"):
        get_metric("auc-pr", Task.BINARY)


def test_metrics_score_in_the_documented_space():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]])
    assert get_metric("accuracy", Task.BINARY)(y, proba, Task.BINARY) == 0.75
    assert get_metric("roc_auc", Task.BINARY)(y, proba, Task.BINARY) == 0.75  # one of four pairs misordered
    assert np.isnan(get_metric("accuracy", Task.BINARY)(y, proba * np.nan, Task.BINARY))
