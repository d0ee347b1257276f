"""WebUI forms of the host network. The rules are the models' own (netconfig/validation.py)."""

from __future__ import annotations

from django import forms

from . import inventory
from .apply import DEFAULT_TIMEOUT, MAX_TIMEOUT
from .models import Interface, Route


class ListField(forms.CharField):
    """A list typed as text: one item per line, or separated by commas or spaces."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [x for x in (value or "").replace(",", " ").split() if x]


def interface_choices(blank: str = "") -> list[tuple[str, str]]:
    """The real interfaces with their addresses, plus the VLANs and bonds configured here."""
    real = inventory.choices()
    known = {name for name, _ in real}
    configured = [(i.name, f"{i.name} — {i.get_kind_display()} (configured)")
                  for i in Interface.objects.exclude(name__in=known)]
    return ([("", blank)] if blank else []) + real + configured


class InterfaceForm(forms.ModelForm):
    addresses = ListField(required=False, help_text="One per line, with prefix length: 192.0.2.10/24, 2001:db8::10/64.")
    members = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                        help_text="Bond: the interfaces it bonds (they lose their own addresses).")

    class Meta:
        model = Interface
        fields = ["name", "kind", "parent", "vlan_id", "bond_mode", "members", "mtu", "up", "addresses", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"] = forms.ChoiceField(choices=interface_choices("— not a VLAN —"), required=False,
                                                  help_text=self.fields["parent"].help_text)
        self.fields["members"].choices = inventory.choices()


class RouteForm(forms.ModelForm):
    class Meta:
        model = Route
        fields = ["destination", "gateway", "interface", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["interface"] = forms.ChoiceField(choices=interface_choices("— any (by the gateway) —"),
                                                     required=False)


class ApplyForm(forms.Form):
    timeout = forms.IntegerField(label="Rollback timer (seconds)", min_value=0, max_value=MAX_TIMEOUT,
                                 initial=DEFAULT_TIMEOUT,
                                 help_text="Unless you confirm within this time, the change is rolled back. "
                                           "0: no timer (refused when it moves the address you use).")
