import pytest

from calculations.forms import CalculationForm, equation_help
from equations import registry


def test_form_offers_every_registered_equation_with_its_bound():
    choices = dict(CalculationForm().fields["equation"].choices)
    assert choices == {
        "factorial": "Factorial n! (n ≤ 3,000,000)",
        "fibonacci": "Fibonacci number F(n) (n ≤ 10,000,000)",
        "nth_prime": "The n-th prime p(n) (n ≤ 300,000,000)",
        "pi_digits": "π to n decimal places (n ≤ 10,000,000)",
    }


def test_form_opens_on_fibonacci_and_shows_its_help():
    form = CalculationForm()
    assert form["equation"].value() == "fibonacci"
    assert form.selected_equation_help == (
        "The n-th Fibonacci number, exact: F(0) = 0, F(1) = F(2) = 1. n from 0 to 10,000,000."
    )


def test_form_shows_the_help_of_the_submitted_equation():
    form = CalculationForm({"equation": "nth_prime", "n": "0"})
    assert form.selected_equation_help.endswith("n from 1 to 300,000,000.")


def test_equation_options_carry_their_help_for_the_script():
    html = str(CalculationForm()["equation"])
    for equation in registry.all_equations():
        assert f'data-help="{equation_help(equation)}"' in html.replace("&#x27;", "'")
    assert 'aria-describedby="equation-help"' in html


def test_equation_help_follows_the_configured_bound(settings):
    settings.CALCQUEUE_MAX_N = {"factorial": 1234}
    assert equation_help(registry.get("factorial")).endswith("n from 0 to 1,234.")


@pytest.mark.parametrize(
    ("equation", "text", "message"),
    [
        ("nth_prime", "0", "The n-th prime p(n) takes n from 1 to 300,000,000; out of range: 0."),
        ("factorial", "3000001", "Factorial n! takes n from 0 to 3,000,000; out of range: 3000001"),
        ("pi_digits", "5, 10000001", "π to n decimal places takes n from 0 to 10,000,000;"),
    ],
)
def test_form_refuses_inputs_outside_the_chosen_equations_bounds(equation, text, message):
    form = CalculationForm({"equation": equation, "n": text})
    assert not form.is_valid()
    assert form.errors["n"][0].startswith(message)


def test_form_accepts_the_bounds_of_each_equation():
    assert CalculationForm({"equation": "nth_prime", "n": "1, 300000000"}).is_valid()
    assert CalculationForm({"equation": "pi_digits", "n": "0"}).is_valid()
