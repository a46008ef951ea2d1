from otter.test_files import test_case

OK_FORMAT = False

name = "02-placement"
points = 4

@test_case(points=1, hidden=False, 
    failure_message="not done yet: sublayer_with_adapter must return a tensor shaped like input_tensor")
def test_done(sublayer_with_adapter):
    import torch
    from labutils.exercises import sublayer_case
    m, hs, it = sublayer_case('attention')
    try:
        out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, m.adapters['task'])
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(out, torch.Tensor) and out.shape == it.shape, "not done yet: no tensor of input_tensor's shape"

@test_case(points=1, hidden=False, 
    failure_message="with an identity adapter this must be BERT's own sublayer, LayerNorm(dropout(dense(x)) + residual)")
def test_bert_sublayer(sublayer_with_adapter):
    import torch
    from labutils.exercises import relative_error, sublayer_case
    m, hs, it = sublayer_case('attention', seed=1)
    m.skip = True
    out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, torch.nn.Identity())
    assert isinstance(out, torch.Tensor), 'not done yet'
    err = relative_error(out, m(hs, it))
    print(f"identity adapter: relative error vs BERT's sublayer {err:.1e} (must be < 1e-6)")
    assert err < 1e-06

@test_case(points=1, hidden=False, 
    failure_message="differs from L.AdapterSublayerOutput: the adapter goes after dense and dropout, before the residual and the LayerNorm")
def test_equals_library(sublayer_with_adapter):
    from labutils.exercises import relative_error, sublayer_case
    import torch
    m, hs, it = sublayer_case('attention', seed=2)
    out = sublayer_with_adapter(hs, it, m.dense, m.dropout, m.LayerNorm, m.adapters['task'])
    assert isinstance(out, torch.Tensor), 'not done yet'
    err = relative_error(out, m(hs, it))
    print(f'relative error vs L.AdapterSublayerOutput: {err:.1e} (must be < 1e-6)')
    assert err < 1e-06

