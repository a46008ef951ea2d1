from otter.test_files import test_case

OK_FORMAT = False

name = "03-mistakes"
points = 3

@test_case(points=1, hidden=False, 
    failure_message="not done yet: surest_mistakes must return a list of row indices")
def test_done(surest_mistakes):
    import numpy as np
    try:
        out = surest_mistakes(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 1]), 8)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(out, (list, tuple, np.ndarray)), 'not done yet: surest_mistakes returns no list'
    assert [int(i) for i in out] == [0], f'expected [0] (one mistake, in row 0), got {list(out)}'

@test_case(points=1, hidden=False, 
    failure_message="not the rows of L.inference.confident_mistakes: only wrong predictions, the surest first")
def test_like_library(surest_mistakes):
    import numpy as np
    from labutils.exercises import confident_mistake_rows
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.5, 0.5], 60)
    labels = rng.integers(0, 2, 60)
    assert isinstance(surest_mistakes(probs, labels, 8), (list, tuple, np.ndarray)), 'not done yet'
    mine, ref = ([int(i) for i in surest_mistakes(probs, labels, 8)], confident_mistake_rows(probs, labels, 8))
    print('yours:', mine, '\nlibrary:', ref)
    assert mine == ref

