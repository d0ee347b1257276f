"""WebUI forms of the host network. The rules are the models' own (netconfig/validation.py)."""

from __future__ import annotations

from django import forms

from appliance.gate import GatedFormMixin

from . import inventory
from .apply import DEFAULT_TIMEOUT, MAX_TIMEOUT
from .models import Interface, Route, SystemSettings


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


def interface_select(form, *names: str, blank: str = "— none —") -> None:
    """Make the form's interface fields pick lists of the real interfaces, with their addresses shown.
    A saved value the host no longer has stays listed, marked, so the form does not silently change it."""
    for name in names:
        field = form.fields[name]
        choices = interface_choices("" if field.required else blank)
        current = form.initial.get(name) or getattr(form.instance, name, "")
        if current and current not in {value for value, _ in choices}:
            choices.append((current, f"{current} — not on this host"))
        form.fields[name] = forms.ChoiceField(choices=choices, required=field.required, label=field.label,
                                              help_text=field.help_text)


class InterfaceForm(GatedFormMixin, forms.ModelForm):
    addresses = ListField(required=False, help_text="One per line, with prefix length: 192.0.2.10/24, 2001:db8::10/64.")
    members = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                        help_text="Bond: the interfaces it bonds (they lose their own addresses).")

    class Meta:
        model = Interface
        fields = ["name", "kind", "parent", "vlan_id", "bond_mode", "members", "mtu", "up", "addresses", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        interface_select(self, "parent", blank="— not a VLAN —")
        self.fields["members"].choices = inventory.choices()


class RouteForm(GatedFormMixin, forms.ModelForm):
    class Meta:
        model = Route
        fields = ["destination", "gateway", "interface", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        interface_select(self, "interface", blank="— any (by the gateway) —")


class ApplyForm(GatedFormMixin, forms.Form):
    timeout = forms.IntegerField(label="Rollback timer (seconds)", min_value=0, max_value=MAX_TIMEOUT,
                                 initial=DEFAULT_TIMEOUT,
                                 help_text="Unless you confirm within this time, the change is rolled back. "
                                           "0: no timer (refused when it moves the address you use).")


class SystemSettingsForm(GatedFormMixin, forms.ModelForm):
    dns_servers = ListField(label="DNS resolvers", required=False, help_text="Up to 3 addresses.")
    search_domains = ListField(required=False)
    ntp_servers = ListField(label="NTP servers", required=False)
    alert_emails = ListField(label="Alert recipients", required=False,
                             help_text="Apply failures and drift. Blank: FULCRUM_ALERT_EMAILS.")
    syslog_targets = ListField(label="Remote syslog targets", required=False,
                               help_text="host:port (UDP), e.g. 192.0.2.50:514. Blank: FULCRUM_SYSLOG.")
    smtp_password = forms.CharField(label="SMTP password", required=False, widget=forms.PasswordInput,
                                    help_text="Write-only: leave blank to keep the stored one.")

    class Meta:
        model = SystemSettings
        exclude = ["updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from zoneinfo import available_timezones

        zones = [(z, z) for z in sorted(available_timezones())]
        self.fields["timezone"] = forms.ChoiceField(label="Time zone", choices=zones)

    def clean_smtp_password(self):
        return self.cleaned_data["smtp_password"] or self.instance.smtp_password
