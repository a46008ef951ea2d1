from otter.test_files import test_case

OK_FORMAT = False

name = "03-reload"
points = 3

@test_case(points=1, hidden=False, 
    failure_message="not done yet: my_logits must be my_twin's dev logits, an array shaped like logits")
def test_done(my_logits, logits):
    import numpy as np
    assert isinstance(my_logits, np.ndarray) and my_logits.shape == logits.shape, 'not done yet: no logits in my_logits'

@test_case(points=1, hidden=False, 
    failure_message="the reloaded model's logits differ from the loaded model's: save the adapter of `model` and load that folder")
def test_identical(my_logits, logits):
    import numpy as np
    assert isinstance(my_logits, np.ndarray) and my_logits.shape == logits.shape, 'not done yet'
    print(f'max |my_logits - logits| = {np.abs(my_logits - logits).max():.1e} (must be 0: identical)')
    assert np.array_equal(my_logits, logits)

@test_case(points=1, hidden=False, 
    failure_message="my_twin must be a second model with the MRPC adapter loaded from my_dir (not `model`, not copied logits)")
def test_really_reloaded(my_twin, model, my_dir, tokenizer, dev, logits):
    import numpy as np
    import labutils as L
    assert my_twin is not None and my_twin is not model, 'my_twin is `model` itself (or nothing)'
    assert L.active_adapter(my_twin) == 'mrpc', f"my_twin's active adapter is {L.active_adapter(my_twin)!r}"
    meta, _ = L.io.read_adapter(my_dir)
    assert meta['task'] == 'mrpc'
    some = L.predict_logits(my_twin, tokenizer, dev.select(range(min(4, len(dev)))))
    assert np.allclose(some, logits[:len(some)], atol=0.0001), 'my_twin does not compute the logits in my_logits'

