"""labutils: the library behind the Adapter Layers lab notebooks."""
from .adapter import BottleneckAdapter, adapter_param_count
from .config import AdapterConfig
from .layer import AdapterSublayerOutput
from .model import (UnsupportedModelError, active_adapter, add_adapter, adapter_configs, adapter_parameter_count,
                    adapters_disabled,
                    adapter_sublayers, adapters_skipped, delete_adapter, encoder_layers, set_active_adapter,
                    set_skipped_layers, skipped_layers)
from .freeze import base_checksum, format_parameter_report, freeze_for_adapters, parameter_report, unfreeze_all
from .hub import ModelChoice, hub_reachable, load_base_model, load_tokenizer, resolve_model
from .data import load_glue, subsample, task_spec, tokenize
from .device import PeakMemory, device_summary, pick_device, pick_precision
from .train import TrainingDiverged, classification_metrics, evaluate, predict_logits, set_seed, summary_row, train, training_arguments
from . import cost, io, notebook, plots, profiles
from .io import load_adapter, save_adapter
from . import latency
from . import inference, multitask
from .multitask import MultiTaskAdapterManager
from . import recipes
from . import sweeps
