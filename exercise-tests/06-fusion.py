from otter.test_files import test_case

OK_FORMAT = False

name = "06-fusion"
points = 4

@test_case(points=1, hidden=False, 
    failure_message="not done yet: give Fusion query, key and value (nn.Linear) and a forward(h, u) that returns a tensor")
def test_done(Fusion):
    import torch
    from torch import nn
    try:
        f = Fusion(8)
        out = f(torch.zeros(2, 3, 8), torch.zeros(2, 3, 4, 8))
    except (NameError, TypeError, AttributeError, NotImplementedError) as err:
        assert False, f'not done yet: {err}'
    for part in ('query', 'key', 'value'):
        assert isinstance(getattr(f, part, None), nn.Linear), f'not done yet: no {part} (nn.Linear)'
    assert isinstance(out, torch.Tensor), 'not done yet: forward returns no tensor'

@test_case(points=1, hidden=False, 
    failure_message="at init, the fusion of a single adapter must be that adapter: h + u (value = identity, no bias)")
def test_one_adapter_is_that_adapter(Fusion):
    import torch
    assert hasattr(Fusion(8), 'value'), 'not done yet'
    torch.manual_seed(0)
    f = Fusion(16).eval()
    assert f.value.bias is None, 'value must have no bias (bias=False)'
    h, u = (torch.randn(2, 5, 16), torch.randn(2, 5, 1, 16))
    gap = (f(h, u) - (h + u[:, :, 0])).abs().max().item()
    print(f'one adapter at init: max |fusion - (h + u)| = {gap:.1e} (must be < 1e-5)')
    assert gap < 1e-05, f'max |fusion - (h + u)| = {gap:.1e}: is value the identity, and the skip h added?'

@test_case(points=1, hidden=False, 
    failure_message="the attention must be a softmax over the N adapters (the third axis), kept in self.last_attention")
def test_attention_is_a_softmax_over_adapters(Fusion):
    import torch
    assert hasattr(Fusion(8), 'value'), 'not done yet'
    torch.manual_seed(1)
    f = Fusion(16).eval()
    with torch.no_grad():
        for p in f.parameters():
            p.normal_(std=0.3)
        f(torch.randn(2, 5, 16), torch.randn(2, 5, 3, 16))
    p = getattr(f, 'last_attention', None)
    assert p is not None and tuple(p.shape) == (2, 5, 3), f'last_attention has shape {(None if p is None else tuple(p.shape))}, expected (2, 5, 3)'
    assert torch.allclose(p.sum(-1), torch.ones(2, 5), atol=1e-05) and (p >= 0).all(), "each token's weights must sum to 1 over the adapters"

@test_case(points=1, hidden=False, 
    failure_message="differs from L.AdapterFusionLayer on the same weights: q from h, k from u, softmax over adapters, value after the weighted sum, + h")
def test_equals_library(Fusion):
    import torch
    import labutils as L
    from labutils.exercises import relative_error
    assert hasattr(Fusion(8), 'value'), 'not done yet'
    torch.manual_seed(2)
    mine, ref = (Fusion(16).eval(), L.AdapterFusionLayer(['a', 'b', 'c'], 16).eval())
    with torch.no_grad():
        for p in mine.parameters():
            p.normal_(std=0.3)
    ref.load_state_dict(mine.state_dict())
    h, u = (torch.randn(2, 5, 16), torch.randn(2, 5, 3, 16))
    err = relative_error(mine(h, u), ref.fuse(h, u))
    print(f'relative error vs L.AdapterFusionLayer: {err:.1e} (must be < 1e-6)')
    assert err < 1e-06, f'relative error {err:.1e}, must be < 1e-6'

