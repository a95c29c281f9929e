import pytest

from calculations import forms as calculation_forms
from calculations.forms import MAX_INPUT_CHARS, CalculationForm, equation_help
from equations import registry


def test_form_offers_every_registered_equation_with_its_bound():
    choices = dict(CalculationForm(signed_in=True).fields["equation"].choices)
    assert choices == {
        "factorial": "Factorial n! (n ≤ 3,000,000)",
        "fibonacci": "Fibonacci number F(n) (n ≤ 10,000,000)",
        "nth_prime": "The n-th prime p(n) (n ≤ 300,000,000)",
        "pi_digits": "π to n decimal places (n ≤ 10,000,000)",
    }


def test_form_opens_on_fibonacci_and_shows_its_help():
    form = CalculationForm(signed_in=True)
    assert form["equation"].value() == "fibonacci"
    assert form.selected_equation_help == (
        "The n-th Fibonacci number, exact: F(0) = 0, F(1) = F(2) = 1. n from 0 to 10,000,000."
    )


def test_form_shows_the_help_of_the_submitted_equation():
    form = CalculationForm({"equation": "nth_prime", "n": "0"}, signed_in=True)
    assert form.selected_equation_help.endswith("n from 1 to 300,000,000.")


def test_equation_options_carry_their_help_for_the_script():
    html = str(CalculationForm(signed_in=True)["equation"])
    for equation in registry.all_equations():
        assert f'data-help="{equation_help(equation, signed_in=True)}"' in html.replace(
            "&#x27;", "'"
        )
    assert 'aria-describedby="equation-help"' in html


def test_equation_help_follows_the_configured_bound(settings):
    settings.CALCQUEUE_MAX_N = {"factorial": 1234}
    assert equation_help(registry.get("factorial"), signed_in=True).endswith("n from 0 to 1,234.")


@pytest.mark.parametrize(
    ("equation", "text", "message"),
    [
        ("nth_prime", "0", "The n-th prime p(n) takes n from 1 to 300,000,000; out of range: 0."),
        ("factorial", "3000001", "Factorial n! takes n from 0 to 3,000,000; out of range: 3000001"),
        ("pi_digits", "5, 10000001", "π to n decimal places takes n from 0 to 10,000,000;"),
    ],
)
def test_form_refuses_inputs_outside_the_chosen_equations_bounds(equation, text, message):
    form = CalculationForm({"equation": equation, "n": text}, signed_in=True)
    assert not form.is_valid()
    assert form.errors["n"][0].startswith(message)


def test_form_accepts_the_bounds_of_each_equation():
    assert CalculationForm(
        {"equation": "nth_prime", "n": "1, 300000000"}, signed_in=True
    ).is_valid()
    assert CalculationForm({"equation": "pi_digits", "n": "0"}, signed_in=True).is_valid()


# --- Cleaning the numbers -----------------------------------------------------------------


def fib_form(text: str) -> CalculationForm:
    return CalculationForm({"equation": "fibonacci", "n": text}, signed_in=True)


def test_form_valid_input_gives_the_numbers_in_cleaned_data():
    form = fib_form("39, 4, 6, 32")
    assert form.is_valid(), form.errors
    assert form.cleaned_data["inputs"] == [39, 4, 6, 32]
    assert form.cleaned_data["equation"] == "fibonacci"


def test_form_keeps_the_text_as_typed_next_to_the_numbers():
    form = fib_form(" 007 ")
    assert form.is_valid()
    assert form.cleaned_data["inputs"] == [7]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("abc", "“abc”: it is not a whole number"),
        ("+5", "“+5”: write it without a sign"),
        ("５", "use the digits 0-9 only"),
        (",", "Enter at least one number"),
        ("10000001", "out of range: 10000001"),
        (", ".join(["1"] * 101), "At most 100 numbers at once; you entered 101."),
    ],
    ids=repr,
)
def test_form_errors_attach_to_the_n_field(settings, text, fragment):
    settings.CALCQUEUE_MAX_BATCH = 100
    form = fib_form(text)
    assert not form.is_valid()
    assert list(form.errors) == ["n"]
    assert form.non_field_errors() == []
    (message,) = form.errors["n"]
    assert fragment in message
    assert "inputs" not in form.cleaned_data


def test_form_requires_n():
    form = CalculationForm({"equation": "fibonacci", "n": ""}, signed_in=True)
    assert not form.is_valid()
    assert form.errors["n"] == ["This field is required."]


def test_form_refuses_an_unknown_equation_on_the_equation_field():
    form = CalculationForm({"equation": "nope", "n": "5"}, signed_in=True)
    assert not form.is_valid()
    assert list(form.errors) == ["equation"]


def test_form_accepts_exactly_max_input_chars():
    # 100 numbers padded with leading zeros to fill the limit exactly.
    tokens = ["7".zfill(19)] * 99 + ["7".zfill(20)]
    text = ",".join(tokens)
    assert len(text) == MAX_INPUT_CHARS == 2000
    form = fib_form(text)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["inputs"] == [7] * 100


def test_form_refuses_one_character_more_than_max_input_chars():
    text = ",".join(["7".zfill(19)] * 99 + ["7".zfill(21)])
    assert len(text) == 2001
    form = fib_form(text)
    assert form.errors["n"] == ["Ensure this value has at most 2000 characters (it has 2001)."]


def test_form_refuses_a_1_mb_paste_without_parsing_it(monkeypatch):
    def must_not_parse(text):
        raise AssertionError("a 1 MB text reached the parser")

    monkeypatch.setattr(calculation_forms.parsing, "parse_numbers", must_not_parse)
    form = fib_form("1," * 500_000)
    assert not form.is_valid()
    assert form.errors["n"] == ["Ensure this value has at most 2000 characters (it has 1000000)."]


@pytest.mark.parametrize("text", ["5\x00", "\x005", "5,\x00,6"], ids=repr)
def test_form_refuses_nul_characters(text):
    form = fib_form(text)
    assert not form.is_valid()
    assert list(form.errors) == ["n"]
    assert "Null characters are not allowed." in form.errors["n"]
