from django import forms
from django.conf import settings

from calculations import parsing, validation
from equations import registry
from equations.base import Equation
from notifications import targets

# Generous for 100 numbers of 8 digits with separators; a 1 MB paste is refused unread.
MAX_INPUT_CHARS = 2000
# The equation the service began with; the form opens on it.
DEFAULT_EQUATION = "fibonacci"


def equation_help(equation: Equation, *, signed_in: bool) -> str:
    high = validation.max_n_for(equation, signed_in=signed_in)
    text = f"{equation.description} n from {equation.min_n:,} to {high:,}."
    signed_in_high = validation.max_n_for(equation, signed_in=True)
    if signed_in_high > high:
        text += f" Signed in: to {signed_in_high:,}."
    return text


class EquationSelect(forms.Select):
    """Each option carries its equation's help, which app.js shows when it is selected."""

    def __init__(self, *args, help_texts: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.help_texts = help_texts or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["attrs"]["data-help"] = self.help_texts.get(value, "")
        return option


class CalculationForm(forms.Form):
    equation = forms.ChoiceField(label="Equation", widget=EquationSelect)
    n = forms.CharField(
        label="n",
        max_length=MAX_INPUT_CHARS,
        help_text="One or more whole numbers separated by commas or spaces, e.g. 39, 4, 6, 32.",
    )

    def __init__(self, *args, signed_in: bool, user=None, **kwargs) -> None:
        """`signed_in`: whose bounds apply (anonymous callers have lower ones); `user`: who
        may ask to be emailed."""
        super().__init__(*args, **kwargs)
        self.signed_in = signed_in
        self.user = user
        # A signed-in user is emailed at their account's address; others may give one where
        # CALCQUEUE_NOTIFY_ANY_EMAIL allows it.
        if user is not None and user.is_authenticated and user.email:
            self.fields["notify_me"] = forms.BooleanField(
                required=False, label=f"Email me at {user.email} when done"
            )
        elif settings.CALCQUEUE_NOTIFY_ANY_EMAIL:
            self.fields["notify_email"] = forms.CharField(
                required=False,
                max_length=targets.MAX_EMAIL_LENGTH,
                label="Email me when done",
                help_text="Optional: one email when every number of this submission is done.",
            )
        equations = registry.all_equations()
        field = self.fields["equation"]
        field.choices = [
            (
                equation.key,
                f"{equation.label} (n ≤ {validation.max_n_for(equation, signed_in=signed_in):,})",
            )
            for equation in equations
        ]
        keys = [equation.key for equation in equations]
        field.initial = DEFAULT_EQUATION if DEFAULT_EQUATION in keys else keys[0]
        field.widget.help_texts = {
            equation.key: equation_help(equation, signed_in=signed_in) for equation in equations
        }
        field.widget.attrs["aria-describedby"] = "equation-help"

    @property
    def selected_equation_help(self) -> str:
        """The help of the equation shown as selected, as the page is served (app.js follows
        later changes)."""
        help_texts = self.fields["equation"].widget.help_texts
        return help_texts.get(self["equation"].value(), help_texts[self.fields["equation"].initial])

    def clean(self) -> dict:
        cleaned = super().clean()
        if "equation" in cleaned and "n" in cleaned:
            equation = validation.equation_for(cleaned["equation"])
            try:
                inputs = parsing.parse_numbers(cleaned["n"])
                validation.validate_inputs(equation, inputs, signed_in=self.signed_in)
            except forms.ValidationError as error:
                self.add_error("n", error)
            else:
                cleaned["inputs"] = inputs
        cleaned["notify"] = self._notify_targets(cleaned)
        return cleaned

    def _notify_targets(self, cleaned: dict) -> list[targets.Target]:
        if cleaned.get("notify_me"):
            return [targets.email_target(address=self.user.email, user=self.user)]
        address = cleaned.get("notify_email", "").strip()
        if not address:
            return []
        try:
            return [targets.email_target(address=address, user=self.user)]
        except forms.ValidationError as error:
            self.add_error("notify_email", error)
            return []
