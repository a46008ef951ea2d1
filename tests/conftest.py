"""Shared fixtures: a tiny BERT (fast on CPU), the packaged tokenizer, a small GLUE folder."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest
import torch

# A handful of MRPC-format rows, bare quotes included, written by the tests themselves.
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
MRPC_ROWS = [
    ("1", "1", "2", '" This is an extremely good deal , " he said .', "He said it was a very good deal ."),
    ("0", "3", "4", "Shares rose 5 percent on Monday .", 'The " new " policy starts in May .'),
    ("1", "5", "6", 'He called it " a disaster .', 'He described it as " a disaster " .'),
    ("0", "7", "8", "The court ruled on Friday .", "Rain is expected this weekend ."),
    ("1", "9", "10", "Profit fell 10 percent .", "Earnings dropped by 10 percent ."),
    ("0", "11", "12", 'A "quoted" word and another " stray quote', "Nothing in common here ."),
]


def write_mrpc(folder, rows=MRPC_ROWS, dev_rows=None):
    task = folder / "MRPC"
    task.mkdir(parents=True, exist_ok=True)
    for name, rs in (("train.tsv", rows), ("dev.tsv", dev_rows or rows)):
        with open(task / name, "w", encoding="utf-8") as fh:
            fh.write(MRPC_HEADER)
            for r in rs:
                fh.write("\t".join(r) + "\n")
    return folder


# STS-B's ten columns (GLUE layout), a float score 0-5 last; bare quotes as in the real file.
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
STSB_ROWS = [
    ("A plane is taking off .", "An air plane is taking off .", "5.000"),
    ('He said " no " twice .', 'He said " no " two times .', "4.600"),
    ("A man is playing a flute .", "A man is playing a large flute .", "3.800"),
    ("Shares rose 5 percent .", "Stocks climbed on Monday .", "2.500"),
    ('A " stray quote here', "The court ruled on Friday .", "0.600"),
    ("A cat sat on the mat .", "Rain is expected this weekend .", "0.000"),
    ("Profit fell 10 percent .", "Earnings dropped by a tenth .", "4.200"),
    ("The dog ran home .", "A dog is running .", "2.750"),
]


def stsb_line(score, s1="A cat sat .", s2="A cat was sitting .", index="0"):
    return "\t".join((index, "main-captions", "MSRvid", "2012test", "0001", "none", "none", s1, s2, score)) + "\n"


def write_stsb(glue, rows=STSB_ROWS):
    """`glue/STS-B/{train,dev}.tsv` holding `rows` (sentence1, sentence2, score); returns the GLUE folder."""
    return write_task(glue, "STS-B", STSB_HEADER + "".join(stsb_line(sc, a, b, str(i)) for i, (a, b, sc) in enumerate(rows)))


def write_task(glue, task_dir, text):
    """`glue/<task_dir>/train.tsv` and `dev.tsv`, both holding `text`; returns the GLUE folder."""
    folder = glue / task_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        (folder / name).write_text(text)
    return glue


@pytest.fixture
def glue_dir(tmp_path):
    return write_mrpc(tmp_path / "glue")


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer
    from labutils.hub import packaged_model_dir
    return AutoTokenizer.from_pretrained(packaged_model_dir())


def make_tiny_model(seed=0, hidden=32, layers=3):
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=4 * hidden, max_position_embeddings=128, num_labels=2,
                        id2label={0: "not_equivalent", 1: "equivalent"},
                        label2id={"not_equivalent": 0, "equivalent": 1})
    model = BertForSequenceClassification(config)
    model.config.lab_base_model = f"tiny-bert-{hidden}x{layers}"
    # A random model's pooler learned nothing (like the packaged MiniLM's), so it trains with the head.
    model.config.lab_train_pooler = True
    return model.eval()


def trained_like(model, name="mrpc", config=None, seed=3):
    """Add adapter `name` and move every non-base weight (adapter, LayerNorms, head) off its
    init, as training would, so that saving and loading have something to get right."""
    import labutils as L

    L.add_adapter(model, name, config or L.AdapterConfig(bottleneck=4))
    torch.manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if L.params.parameter_group(pname) != "base":
                p.add_(0.1 * torch.randn_like(p))
    return model


@pytest.fixture
def tiny_model():
    return make_tiny_model()


@pytest.fixture
def batch(tokenizer):
    enc = tokenizer(["The cat sat on the mat .", "Shares rose on Monday ."],
                    ["A cat was sitting on a mat .", "Rain is expected ."], padding=True, return_tensors="pt")
    return dict(enc)


@pytest.fixture
def tiny_data(glue_dir, tokenizer):
    """The small MRPC folder, tokenised."""
    import labutils as L

    ds, _ = L.load_glue("mrpc", data_dir=str(glue_dir))
    return L.tokenize(ds, tokenizer, "mrpc")


@pytest.fixture
def tiny_choice(tmp_path, tokenizer):
    """A ModelChoice pointing at a saved tiny BERT (3 layers), as if it were the lab's model."""
    import labutils as L

    folder = tmp_path / "tiny-bert"
    make_tiny_model(layers=3).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return L.ModelChoice(str(folder), "tiny-bert", False, "test", train_pooler=True)  # random: as MiniLM
