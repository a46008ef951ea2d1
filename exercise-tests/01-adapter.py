from otter.test_files import test_case

OK_FORMAT = False

name = "01-adapter"
points = 5

@test_case(points=1, hidden=False, 
    failure_message="not done yet: give Adapter a down_proj and an up_proj (nn.Linear) and a forward that returns a tensor")
def test_done(Adapter):
    import torch
    from torch import nn
    try:
        a = Adapter(16, 4)
        out = a(torch.zeros(2, 16))
    except (NameError, TypeError, AttributeError, NotImplementedError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(getattr(a, 'down_proj', None), nn.Linear), 'not done yet: no down_proj (nn.Linear)'
    assert isinstance(getattr(a, 'up_proj', None), nn.Linear), 'not done yet: no up_proj (nn.Linear)'
    assert isinstance(out, torch.Tensor), 'not done yet: forward returns no tensor'

@test_case(points=1, hidden=False, 
    failure_message="the output must have the input's shape (batch, tokens, d), and down_proj must map d -> m")
def test_shape(Adapter):
    import torch
    assert hasattr(Adapter(16, 4), 'down_proj'), 'not done yet'
    a = Adapter(16, 4)
    assert tuple(a.down_proj.weight.shape) == (4, 16) and tuple(a.up_proj.weight.shape) == (16, 4)
    h = torch.randn(2, 5, 16)
    assert a(h).shape == h.shape

@test_case(points=1, hidden=False, 
    failure_message="not the identity at init: weights normal with std init_std, biases zero, and the skip connection")
def test_identity_at_init(Adapter):
    import torch
    assert hasattr(Adapter(16, 4), 'down_proj'), 'not done yet'
    torch.manual_seed(0)
    a, h = (Adapter(768, 64), torch.randn(4, 8, 768))
    change = (a(h) - h).abs().max().item()
    print(f'max |adapter(h) - h| at init = {change:.1e} (must be < 1e-2)')
    assert change < 0.01, f'max |adapter(h) - h| = {change:.1e} at init, must be < 1e-2'
    assert all((torch.count_nonzero(p.bias) == 0 for p in (a.down_proj, a.up_proj))), 'biases must start at zero'
    std = torch.cat([a.down_proj.weight.flatten(), a.up_proj.weight.flatten()]).std().item()
    assert 0.0008 < std < 0.0012, f'weight std {std:.2e}, expected 1e-3'
    std = Adapter(64, 8, init_std=0.1).down_proj.weight.std().item()
    assert 0.07 < std < 0.13, f'init_std=0.1 gave weight std {std:.2e}: use init_std'

@test_case(points=1, hidden=False, 
    failure_message="differs from L.BottleneckAdapter on the same weights: check the order down -> ReLU -> up -> + h")
def test_equals_library(Adapter):
    import torch
    import labutils as L
    from labutils.exercises import relative_error
    assert hasattr(Adapter(16, 4), 'down_proj'), 'not done yet'
    torch.manual_seed(1)
    mine, ref = (Adapter(32, 8), L.BottleneckAdapter(32, 8))
    with torch.no_grad():
        for p in mine.parameters():
            p.normal_(std=0.5)
    ref.load_state_dict(mine.state_dict())
    h = torch.randn(3, 7, 32)
    err = relative_error(mine(h), ref(h))
    print(f'relative error vs L.BottleneckAdapter: {err:.1e} (must be < 1e-6)')
    assert err < 1e-06, f'relative error {err:.1e}, must be < 1e-6'

