from otter.test_files import test_case

OK_FORMAT = False

name = "02-freeze"
points = 3

@test_case(points=1, hidden=False, 
    failure_message="not done yet: trains(name, task) must return True or False")
def test_done(trains):
    try:
        answer = trains('classifier.weight', 'mrpc')
    except (NameError, TypeError, AttributeError) as err:
        assert False, f'not done yet: {err}'
    assert isinstance(answer, bool), 'not done yet: trains returns no True/False'

@test_case(points=1, hidden=False, 
    failure_message="your rule does not train what L.freeze_for_adapters trains: the active adapter, every LayerNorm and the classifier")
def test_same_as_library(trains):
    import labutils as L
    from labutils.exercises import freezing_case
    assert isinstance(trains('classifier.weight', 'mrpc'), bool), 'not done yet'
    model, names, ref = freezing_case('mrpc')
    mine = {n for n in names if trains(n, 'mrpc')}
    yours = sum((p.numel() for n, p in model.named_parameters() if n in mine))
    print(f"your rule trains {yours:,} parameters of the small BERT, L.parameter_report {L.parameter_report(model)['trainable']:,}")
    for n in sorted(mine - ref)[:3]:
        print('  trains but should not:', n)
    for n in sorted(ref - mine)[:3]:
        print('  should train but does not:', n)
    assert mine == ref

