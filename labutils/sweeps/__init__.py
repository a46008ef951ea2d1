"""labutils.sweeps: what notebooks 04, 05 and 06 need to run many trainings (budget, run cache and jobs,
ablations, the method comparison and its peft baselines, fusion runs). The lesson package never imports it."""
from .budget import Budget
from .runs import Job, RunCache, run_jobs, stable_key
from .ablation import (freeze_layers_below, is_upper_triangular, majority_rate, matrix_from_json, matrix_to_json,
                       spans, variant_latency)
from .measure import ADAPTER_NAME, adapter_job, sweep_data, train_adapter
from .baselines import DEFAULT_CONFIGS, PEFT_METHODS, PeftMethodUnavailable, make_peft_model
from .compare import Method, adapter_variants, build, default_methods, footprint, method_job, method_latency
from . import ablation, baselines, budget, compare, fusion, mam, measure, pool, runs
from .fusion import attention_frame, fusion_job, fusion_model, train_fusion
from .mam import make_mam_model, mam_config
