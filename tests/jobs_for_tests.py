"""Training-job stand-ins for tests of `labutils.sweeps` (module-level: spawned workers import them by name)."""
import os
import time


def echo(value, fail=False):
    if fail:
        raise ValueError(f"planted failure for {value}")
    return {"value": value, "pid": os.getpid()}


def sleepy(value, seconds=0.0, log=None):
    """Notes its pid in `log` (a folder) as it starts, then sleeps: a slow run whose worker a test can find."""
    if log:
        with open(os.path.join(log, f"started-{value}-{os.getpid()}"), "w"):
            pass
    time.sleep(seconds)
    return {"value": value, "pid": os.getpid()}


def diverge(value):
    """A run whose loss went to NaN (and whose speed-up is infinite)."""
    return {"value": value, "loss": [0.7, float("nan")], "speedup": float("inf")}


def active_adapter(model, tokenizer, data):
    """An extra measurement of a trained model (`after`): which adapter it ran with."""
    import labutils as L

    return {"active": L.active_adapter(model)}


def probe_logits(model, tokenizer, data):
    """An extra measurement: the trained model's logits on the first dev pairs, as plain lists."""
    import labutils as L

    return {"probe_logits": L.predict_logits(model, tokenizer, data["validation"].select(range(4))).tolist()}
