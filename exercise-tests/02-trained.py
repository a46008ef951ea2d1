from otter.test_files import test_case

OK_FORMAT = False

name = "02-trained"
points = 2

@test_case(points=1, hidden=False, 
    failure_message="not done yet: majority_acc must be the share of the most frequent label among the dev pairs")
def test_majority(majority_acc, raw):
    import numpy as np
    assert isinstance(majority_acc, float), 'not done yet: majority_acc is not a float'
    labels = np.asarray(list(raw['validation']['label']))
    want = max((np.mean(labels == k) for k in np.unique(labels)))
    print(f'majority_acc = {majority_acc:.4f}, the dev labels give {want:.4f}')
    assert abs(majority_acc - want) < 1e-09

@test_case(points=1, hidden=False, 
    failure_message="the adapters did not beat the majority class by 5 points of dev accuracy (full profile), or training did not run")
def test_beats_the_floor(majority_acc, adapter_result, profile):
    assert isinstance(majority_acc, float), 'not done yet: majority_acc is not a float'
    acc = adapter_result.metrics['eval_accuracy']
    assert adapter_result.history, 'training recorded no history'
    if profile.name != 'full':
        print(f'profile {profile.name}: this check only checks that training ran (dev accuracy {acc:.3f})')
        return
    print(f'adapters: dev accuracy {acc:.3f}, majority class {majority_acc:.3f}, need at least {majority_acc + 0.05:.3f}')
    assert acc >= majority_acc + 0.05

