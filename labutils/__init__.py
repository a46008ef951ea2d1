"""labutils: the library behind the Adapter Layers lab notebooks.

The names below are the lesson, bottom-up: each group uses only itself and the groups above it
(the order of docs/GUIDE.md's table; tests/test_layout.py checks both).
"""
# The adapter and its configuration (Houlsby et al., 2019); Compacter's PHM projections are one option of it.
from .config import AdapterConfig
from . import phm
from .phm import compacter_param_count
from .adapter import BottleneckAdapter, adapter_param_count
# The sublayer that holds adapters, and where those sublayers are in a BERT model.
from .layer import (AdapterSublayerOutput, UnsupportedModelError, active_adapter, adapter_configs, adapter_sublayers,
                    encoder_layers)
# The parameter counters: which parameters train (freezing) and how many there are.
from .params import (adapter_parameter_count, base_checksum, format_parameter_report, freeze_for_adapters,
                     parameter_report, unfreeze_all)
from . import params as cost  # 01's name for the cost table (`L.cost.adapter_cost_table`)
# Switching tasks: each adapter with its own LayerNorms and head.
from .switching import adapters_disabled, set_active_adapter
# Injection: adding and deleting adapters, skipping them per layer.
from .model import add_adapter, adapters_skipped, delete_adapter, set_skipped_layers, skipped_layers
# The base model, the data, the device.
from .hub import ModelChoice, load_base_model, load_tokenizer, resolve_model
from .data import load_glue, subsample, task_spec, tokenize
from .device import device_summary, pick_device, pick_precision
# Training and evaluation.
from .train import (TrainingDiverged, classification_metrics, evaluate, predict_logits, regression_metrics, set_seed,
                    summary_row, train, training_arguments)
# Notebook plumbing: the run profiles, a quiet start, checks that stop the notebook, results files.
from . import profiles, notebook
# Adapter folders: saved and loaded with their LayerNorms and head, replaced crash-safely.
from . import safe_folder, folder_format, io
from .io import load_adapter, save_adapter
# The recipes 02 and 03 call once the idea has been shown.
from . import recipes
# Using trained adapters: predictions, many tasks on one model, latency; and the plots.
from . import inference, multitask, latency
from .multitask import MultiTaskAdapterManager
from . import plots
# 06: AdapterFusion over trained adapters.
from . import fusion, fusion_io
from .fusion import (AdapterFusionLayer, delete_fusion, fuse_adapters, fusion_attention, fusion_regularization,
                     mean_fusion_attention, set_active_fusion)
from .fusion_io import FusionFileError, load_fusion, save_fusion
# The experiment wing (04, 05 and 06): many trainings, cached and resumable. Nothing above imports it.
from . import sweeps
