from otter.test_files import test_case

OK_FORMAT = False

name = "01-cost"
points = 3

@test_case(points=1, hidden=False, 
    failure_message="not done yet: adapter_cost(d, m) must count W_down, b_down, W_up and b_up")
def test_cost(adapter_cost):
    import labutils as L
    try:
        first = adapter_cost(768, 64)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(first, int), 'not done yet: adapter_cost returns no whole number'
    for d, m in ((768, 64), (384, 24)):
        got, want = (adapter_cost(d, m), L.BottleneckAdapter(d, m))
        want = sum((p.numel() for p in want.parameters()))
        assert got == want, f'adapter_cost({d}, {m}) = {got}, but the module has {want} parameters'

@test_case(points=1, hidden=False, 
    failure_message="houlsby_share(m) must be 100 x (2 adapters x 12 layers x adapter_cost) / BERT_BASE, a float")
def test_share(houlsby_share):
    import labutils as L
    from transformers import BertConfig
    base = L.cost.base_parameter_count(BertConfig())
    for m in (8, 64):
        try:
            got = houlsby_share(m)
        except (NameError, TypeError, AttributeError) as err:
            assert False, f'not done yet: {err}'
        assert got is not None, 'not done yet: houlsby_share returns nothing'
        want = 100 * 24 * L.adapter_param_count(768, m) / base
        print(f"houlsby_share({m}) = {got}, the library's count gives {want:.4f}")
        assert isinstance(got, float) and abs(got - want) < 1e-06

