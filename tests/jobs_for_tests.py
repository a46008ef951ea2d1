"""Training-job stand-ins for tests of `labutils.runs` (importable by spawned worker processes)."""
import os


def echo(value, fail=False):
    if fail:
        raise ValueError(f"planted failure for {value}")
    return {"value": value, "pid": os.getpid()}
