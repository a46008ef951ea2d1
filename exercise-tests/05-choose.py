from otter.test_files import test_case

OK_FORMAT = False

name = "05-choose"
points = 4

@test_case(points=1, hidden=False, 
    failure_message="not done yet: make choose_method(n_tasks, trainable_budget_pct, need_base_latency) return a method name from the table")
def test_done(choose_method):
    try:
        answer = choose_method(1, 100, False)
    except (NameError, TypeError, AttributeError) as error:
        assert False, f'not done yet ({type(error).__name__}: {error})'
    assert isinstance(answer, str), f'not done yet: choose_method(1, 100, False) returned {answer!r}'

@test_case(points=1, hidden=False, 
    failure_message="without a latency constraint: full fine-tuning only for one task with no limit, then the first of Houlsby adapters, LoRA, IA3 that fits the budget")
def test_without_latency_constraint(choose_method):
    cases = {(1, 100, False): 'full fine-tuning', (8, 100, False): 'Houlsby adapters', (1, 5, False): 'Houlsby adapters', (3, 1.0, False): 'LoRA', (3, 0.2, False): 'IA3'}
    from labutils.exercises import wrong_cases
    wrong = wrong_cases(choose_method, cases)
    assert not wrong, f'{len(wrong)} of {len(cases)} cases wrong'

@test_case(points=1, hidden=False, 
    failure_message="with need_base_latency only LoRA or IA3 (their updates merge into the weights) or None may come out, unless one task may train everything")
def test_base_latency(choose_method):
    cases = {(1, 100, True): 'full fine-tuning', (20, 2, True): 'LoRA', (20, 0.1, True): 'IA3', (20, 0.01, True): None}
    from labutils.exercises import wrong_cases
    wrong = wrong_cases(choose_method, cases)
    assert not wrong, f'{len(wrong)} of {len(cases)} cases wrong'

