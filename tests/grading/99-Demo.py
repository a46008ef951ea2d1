# %% [raw]
# # ASSIGNMENT CONFIG
# name: 99-Demo
# init_cell: false
# check_all_cell: false
# export_cell: false
# run_tests: false
# tests:
#   files: true
#   ok_format: false
# generate: true

# %% [markdown]
# # 99 · Demo master for tests/test_grading.py (two coding questions, one written; no torch)

# %% tags=["parameters"]
import os
PROFILE = os.environ.get("LAB_PROFILE", "full")

# %%
import otter
grader = otter.Notebook(tests_dir="exercise-tests")

# %% [raw]
# # BEGIN QUESTION
# name: 99-square
# points: 3

# %% [markdown]
# **Exercise 1.** Write `square(x)`.

# %% [raw]
# # BEGIN SOLUTION

# %%
def square(x):
    return x * x  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: write square(x), which returns a number"
""" # END TEST CONFIG
def test_done(square):
    try:
        value = square(3)
    except (NameError, TypeError, AttributeError):
        value = None
    assert isinstance(value, (int, float)), "not done yet"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "square(3) must be 9"
""" # END TEST CONFIG
def test_value(square):
    assert square(3) == 9

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_other(square):
    assert square(-4) == 16

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %%
print("the lesson goes on with the reference:", 3 * 3)

# %% [raw]
# # BEGIN QUESTION
# name: 99-cost
# points: 3

# %% [markdown]
# **Exercise 2.** `adapter_cost(d, m)`: the parameters of one adapter.

# %% [raw]
# # BEGIN SOLUTION

# %%
def adapter_cost(d, m):
    return 2 * d * m + d + m  # SOLUTION

# %% [raw]
# # END SOLUTION

# %% [raw]
# # BEGIN TESTS

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "not done yet: adapter_cost(d, m) returns an int"
""" # END TEST CONFIG
def test_done(adapter_cost):
    try:
        value = adapter_cost(8, 2)
    except (NameError, TypeError, AttributeError):
        value = None
    assert isinstance(value, int), "not done yet"

# %%
""" # BEGIN TEST CONFIG
points: 1
failure_message: "count W_down, b_down, W_up and b_up"
""" # END TEST CONFIG
def test_value(adapter_cost):
    assert adapter_cost(768, 64) == 99136

# %%
""" # BEGIN TEST CONFIG
hidden: true
points: 1
""" # END TEST CONFIG
def test_other(adapter_cost):
    assert adapter_cost(40, 6) == 2 * 40 * 6 + 40 + 6

# %% [raw]
# # END TESTS

# %% [raw]
# # END QUESTION

# %% [raw]
# # BEGIN QUESTION
# name: 99-why
# manual: true
# points: 2

# %% [markdown]
# **Exercise 3 (written).** Why is the handout's 4.2% wrong?

# %% [raw]
# # BEGIN SOLUTION

# %% [markdown]
# **Rubric (2 points).** 1 point: it divides by the attention block only. 1 point: two adapters per layer.

# %% [raw]
# # END SOLUTION

# %% [raw]
# # END QUESTION

# %%
print("done:", adapter_cost_reference if False else 99136)
