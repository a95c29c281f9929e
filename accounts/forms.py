from django import forms
from django.contrib.auth.forms import UserCreationForm

from notifications.destinations import MAX_URL_LENGTH


class SignUpForm(UserCreationForm):
    """A username and a password (typed twice, checked by AUTH_PASSWORD_VALIDATORS)."""


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        help_text="What the token is for, e.g. “nightly batch”. You can revoke it at any time.",
    )
    callback_url = forms.CharField(
        label="Default callback URL (optional)",
        max_length=MAX_URL_LENGTH,
        required=False,
        help_text="Submissions made with this token that name no <code>callback_url</code> of "
        "their own get a signed webhook event here as each calculation is final (http or "
        "https, public addresses only). Its signing secret is shown once, with the token.",
    )
