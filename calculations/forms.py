from django import forms

from calculations import parsing, validation
from equations import registry

# Generous for 100 numbers of 8 digits with separators; a 1 MB paste is refused unread.
MAX_INPUT_CHARS = 2000


class CalculationForm(forms.Form):
    equation = forms.ChoiceField(label="Equation")
    n = forms.CharField(
        label="n",
        max_length=MAX_INPUT_CHARS,
        help_text="One or more whole numbers separated by commas or spaces, e.g. 39, 4, 6, 32.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        equations = registry.all_equations()
        self.fields["equation"].choices = [
            (equation.key, f"{equation.label} (n ≤ {validation.max_n_for(equation):,})")
            for equation in equations
        ]
        self.fields["equation"].initial = equations[0].key

    def clean(self) -> dict:
        cleaned = super().clean()
        if "equation" in cleaned and "n" in cleaned:
            equation = validation.equation_for(cleaned["equation"])
            try:
                inputs = parsing.parse_numbers(cleaned["n"])
                validation.validate_inputs(equation, inputs)
            except forms.ValidationError as error:
                self.add_error("n", error)
            else:
                cleaned["inputs"] = inputs
        return cleaned
