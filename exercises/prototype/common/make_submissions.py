"""Make test submissions from a student notebook: solved, skipped (untouched) and planted mistakes.

Usage: python make_submissions.py STUDENT.ipynb OUTDIR
Writes OUTDIR/<student>/<notebook name>: the three cases CI must grade (issue 14):
  alice: everything right; bob: untouched release; carol: no skip connection and a cost without b_up.
Works on both otter (`...` placeholders) and nbgrader (`raise NotImplementedError()`) releases:
it swaps the whole code cell that defines the name, so it does not depend on the placeholder.
"""
import sys
from pathlib import Path

import nbformat

ADAPTER = '''class Adapter(nn.Module):
    def __init__(self, d: int, m: int, init_std: float = 1e-3):
        super().__init__()
        self.down_proj = nn.Linear(d, m)
        self.up_proj = nn.Linear(m, d)
        for proj in (self.down_proj, self.up_proj):
            nn.init.normal_(proj.weight, std=init_std)
            nn.init.zeros_(proj.bias)

    def forward(self, h):
        return {body}
'''
COST = '''from transformers import BertConfig

def adapter_cost(d: int, m: int) -> int:
    return {body}

def share_of_bert_base(m: int) -> float:  # the nbgrader version asks for this function
    return 100 * 24 * adapter_cost(768, m) / L.cost.base_parameter_count(BertConfig())

bert_base = L.cost.base_parameter_count(BertConfig())
share_m64 = 100 * 24 * adapter_cost(768, 64) / bert_base  # the otter version asks for this value
print(f"Houlsby, m = 64: {{share_m64:.2f}}% of BERT-base")
'''
ANSWER = ("4.2% is one adapter (99,136) over the attention block's 4d^2 weights. A layer has about "
          "12d^2 and Houlsby puts two adapters in it: about 2.8%.")
STUDENTS = {
    "alice": {"adapter": "h + self.up_proj(torch.relu(self.down_proj(h)))", "cost": "2 * d * m + d + m", "answer": ANSWER},
    "bob": None,  # the untouched release
    "carol": {"adapter": "self.up_proj(torch.relu(self.down_proj(h)))", "cost": "2 * d * m + m", "answer": "It forgot the biases."},
}


def fill(nb, edits):
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("class Adapter("):
            cell.source = ADAPTER.format(body=edits["adapter"])
        elif cell.cell_type == "code" and "def adapter_cost(" in cell.source:
            cell.source = COST.format(body=edits["cost"])
        elif cell.cell_type == "markdown" and ("Type your answer here" in cell.source or "YOUR ANSWER HERE" in cell.source):
            cell.source = edits["answer"]
    return nb


if __name__ == "__main__":
    release, out = Path(sys.argv[1]), Path(sys.argv[2])
    for student, edits in STUDENTS.items():
        nb = nbformat.read(release, as_version=4)
        target = out / student / release.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(fill(nb, edits) if edits else nb, target)
        print("wrote", target)
