from otter.test_files import test_case

OK_FORMAT = False

name = "03-confusion"
points = 3

@test_case(points=1, hidden=False, 
    failure_message="not done yet: confusion must return an n_classes x n_classes array")
def test_done(confusion):
    import numpy as np
    try:
        out = confusion([0, 1, 1], [0, 1, 0], 2)
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(out, np.ndarray) and out.shape == (2, 2), 'not done yet: no 2 x 2 array'

@test_case(points=1, hidden=False, 
    failure_message="differs from sklearn.metrics.confusion_matrix: rows are the human labels, columns the model's")
def test_like_sklearn(confusion):
    import numpy as np
    from sklearn.metrics import confusion_matrix
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    preds = np.where(rng.random(50) < 0.7, labels, 1 - labels)
    assert isinstance(confusion([0, 1], [1, 1], 2), np.ndarray), 'not done yet'
    for y, p in ((labels, preds), (labels, np.ones(50, dtype=int))):
        mine, ref = (np.asarray(confusion(y, p, 2)), confusion_matrix(y, p, labels=[0, 1]))
        print('yours:', mine.tolist(), ' sklearn:', ref.tolist())
        assert np.array_equal(mine, ref)

