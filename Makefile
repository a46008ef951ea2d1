# The two commands a newcomer needs:
#   make lab    run every notebook headless (offline default model, full profile) into outputs/
#   make test   unit tests + nbval over the notebooks (quick profile, offline)
# Instructors (README, "For instructors"):
#   make student                                    the student release -> dist/student/, dist/autograder/
#   make grade SUBMISSIONS=folder [MANUAL=manual.csv] [GRADE_PROFILE=full]   -> grades/gradebook.csv, grades/feedback/
# And: make bench   the CPU speed and memory figures benchmarks/RESULTS.md quotes (benchmarks/run_all.sh)
#      make gpu-kit what a lent offline GPU machine needs for them (benchmarks/gpu_kit.py -> .carry/)
# Each installs what it needs into .venv first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
PROFILE ?= full
# GLUE TSV folder for offline runs; ../shared/data/glue when it exists.
LAB_DATA_DIR ?= $(if $(wildcard ../shared/data/glue),$(abspath ../shared/data/glue),)
NOTEBOOKS := $(sort $(wildcard [0-9][0-9]-*.ipynb))

# Passive OpenMP waits: spinning threads collapse throughput when anything else shares the cores.
OMP_WAIT_POLICY ?= PASSIVE
export LAB_DATA_DIR OMP_WAIT_POLICY

.PHONY: install lab test unit bench gpu-kit notebooks-commit student grade clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

lab: install
	@mkdir -p outputs/notebooks
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (profile $(PROFILE))"; \
	  HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} LAB_PROFILE=$(PROFILE) $(VENV)/bin/papermill --cwd . "$$nb" "outputs/notebooks/$$nb" || exit 1; \
	done
	@echo "Executed notebooks: outputs/notebooks/   results: outputs/results/   adapters: outputs/adapters/"

test: install
	@bash tools/run_tests.sh $(PY)

bench: install
	@HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} bash benchmarks/run_all.sh $(PY)

student: install
	$(PY) tools/build_notebooks.py --student

GRADE_PROFILE ?= quick
grade: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [MANUAL=manual.csv] [GRADE_PROFILE=full]"; exit 2; }
	$(PY) tools/grade.py "$(SUBMISSIONS)" $(if $(MANUAL),--manual "$(MANUAL)") $(if $(filter full,$(GRADE_PROFILE)),--full)

gpu-kit: install
	$(PY) benchmarks/gpu_kit.py

unit: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests

# Maintainers: rebuild the notebooks from notebook-sources and store a real run's outputs in them.
notebooks-commit: install
	$(PY) tools/build_notebooks.py
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (profile $(PROFILE))"; \
	  HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} LAB_PROFILE=$(PROFILE) $(VENV)/bin/papermill --cwd . "$$nb" "$$nb" || exit 1; \
	done
	$(PY) tools/clean_notebooks.py $(NOTEBOOKS)

clean:
	rm -rf outputs .pytest_cache dist
