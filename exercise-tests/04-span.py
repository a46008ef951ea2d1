from otter.test_files import test_case

OK_FORMAT = False

name = "04-span"
points = 4

@test_case(points=1, hidden=False, 
    failure_message="not done yet: make accuracy_change(model, tokenizer, dataset, layers) return the change in accuracy, in points, as a number")
def test_done(accuracy_change, span_model, tokenizer, dev):
    import numbers, labutils as L
    rows = dev.select(range(min(8, len(dev))))
    try:
        change = accuracy_change(span_model, tokenizer, rows, [0])
    except (NameError, TypeError, AttributeError) as error:
        assert False, f'not done yet ({type(error).__name__}: {error})'
    finally:
        L.set_skipped_layers(span_model, [])
    assert isinstance(change, numbers.Real), f'not done yet: accuracy_change returned {change!r}, not a number'

@test_case(points=1, hidden=False, 
    failure_message="your change for layers 0..half-1 is not the sweep's delta[0, half - 1]: evaluate with every adapter on, then inside L.adapters_skipped(model, layers), and return 100 x (off - on)")
def test_matches_the_sweep(accuracy_change, span_model, tokenizer, dev, delta, n_layers):
    import labutils as L
    half = n_layers // 2
    try:
        mine, sweep = (float(accuracy_change(span_model, tokenizer, dev, range(0, half))), float(delta[0, half - 1]))
    except (NameError, TypeError, AttributeError) as error:
        assert False, f'not done yet ({type(error).__name__}: {error})'
    finally:
        L.set_skipped_layers(span_model, [])
    pair = 100 / len(dev)
    error = abs(mine - sweep) / max(abs(mine) + abs(sweep), 1e-12)
    print(f"layers 0..{half - 1} off: yours {mine:+.2f} points, the sweep's {sweep:+.2f} points; relative error {error:.1e}, difference {abs(mine - sweep) / pair:.1f} dev pair(s)")
    assert abs(mine - sweep) <= pair + 1e-09, f"{mine:+.2f} points against the sweep's {sweep:+.2f}"

@test_case(points=1, hidden=False, 
    failure_message="after accuracy_change every adapter must be on again: switch them off only inside `with L.adapters_skipped(model, layers):`")
def test_adapters_back_on(accuracy_change, span_model, tokenizer, dev, n_layers):
    import numbers, labutils as L
    rows = dev.select(range(min(8, len(dev))))
    try:
        change = accuracy_change(span_model, tokenizer, rows, range(n_layers))
    except (NameError, TypeError, AttributeError) as error:
        assert False, f'not done yet ({type(error).__name__}: {error})'
    assert isinstance(change, numbers.Real), 'not done yet: accuracy_change returns no number'
    left_off = L.skipped_layers(span_model)
    if left_off:
        L.set_skipped_layers(span_model, [])
    assert left_off == [], f'adapters still off in layers {left_off}'

