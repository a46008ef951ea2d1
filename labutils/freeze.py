"""TEMPORARY (issue 13): the names the sweep modules import from here until they import
`labutils.params` instead; delete this file when they do. Freezing lives in `params.py`."""
from .params import is_head, is_pooler, parameter_report, pooler_trains, unfreeze_all  # noqa: F401
