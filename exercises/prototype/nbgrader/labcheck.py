"""A check cell's wrapper: a plain message for the student, an error for nbgrader's autograder.

nbgrader scores a test cell by whether it raises. A raising cell also stops "Run All" and fills
the notebook with tracebacks, so in a student's session the error becomes one line instead
(NotImplementedError, the stub nbgrader writes, reads as "not done yet"); under
`nbgrader autograde` (NBGRADER_EXECUTION=autograde) and validate it is re-raised, and the cell
scores zero. (In the real lab this would live in labutils.)
"""
import os
from contextlib import contextmanager


@contextmanager
def check(name: str):
    try:
        yield
    except Exception as e:
        if os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate"):
            raise
        if isinstance(e, NotImplementedError):
            print(f"{name}: not done yet")
        elif isinstance(e, AssertionError):
            print(f"{name}: ✗ {e}")
        else:
            print(f"{name}: ✗ your code raised {type(e).__name__}: {e}")
    else:
        print(f"{name}: ✓")
