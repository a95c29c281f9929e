from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignUpForm(UserCreationForm):
    """A username and a password (typed twice, checked by AUTH_PASSWORD_VALIDATORS)."""


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, e.g. “nightly batch”. You can revoke it at any time.",
    )
