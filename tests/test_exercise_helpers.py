"""The helpers the exercise checks stand on: they must tell right from wrong, or every check built on them is blind."""
import numpy as np
import pytest
import torch

from labutils import exercises


def test_relative_error_is_zero_for_equal_and_near_one_for_unrelated():
    a = torch.randn(50)
    assert exercises.relative_error(a, a.clone()) == 0.0
    assert exercises.relative_error(a, -a) == pytest.approx(1.0)


def test_wrong_cases_names_each_wrong_answer(capsys):
    def pick(n, flag):
        return "a" if n < 3 else "b"

    wrong = exercises.wrong_cases(pick, {(1, True): "a", (5, True): "a", (7, False): "b"})
    assert wrong == {(5, True): "b"}
    printed = capsys.readouterr().out
    assert "2 of 3 cases right" in printed and "pick(5, True) gave 'b', expected 'a'" in printed


def test_wrong_cases_says_not_done_for_an_unwritten_function():
    def unwritten(n):
        return undefined_name  # noqa: F821

    with pytest.raises(AssertionError, match="not done yet .NameError"):
        exercises.wrong_cases(unwritten, {(1,): "a"})


def test_confident_mistake_rows_picks_the_most_confident_wrong_rows():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.99, 0.01], [0.6, 0.4]])
    labels = [1, 1, 1, 0]
    rows = exercises.confident_mistake_rows(probs, labels, k=2)
    assert list(rows) == [2, 0]
