from otter.test_files import test_case

OK_FORMAT = False

name = "06-cost"
points = 2

@test_case(points=1, hidden=False, 
    failure_message="not done yet, or wrong: Q and K are d x d with biases, V is d x d without")
def test_one_layer(fusion_param_count):
    import labutils as L
    try:
        got = fusion_param_count(16, 1)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet ({type(err).__name__}: {err})'
    layer = L.AdapterFusionLayer(['a', 'b'], 16)
    want = sum((p.numel() for p in layer.parameters()))
    print(f"fusion_param_count(16, 1) = {got}, the library's layer has {want}")
    assert got == want

@test_case(points=1, hidden=False, 
    failure_message="the count must scale with the number of sublayers and not depend on the number of adapters")
def test_sublayers(fusion_param_count):
    import labutils as L
    try:
        got = fusion_param_count(24, 12)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet ({type(err).__name__}: {err})'
    want = 12 * sum((p.numel() for p in L.AdapterFusionLayer(['a', 'b', 'c', 'd', 'e'], 24).parameters()))
    assert got == want, f'fusion_param_count(24, 12) = {got}, expected {want}'

