from django import forms

from realservers.models import RealServer
from virtualservices.models import VirtualService


class VirtualServiceForm(forms.ModelForm):
    class Meta:
        model = VirtualService
        exclude = ["created_at", "updated_at"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2}),
                   "check_secret": forms.PasswordInput(render_value=True)}


class RealServerForm(forms.ModelForm):
    class Meta:
        model = RealServer
        fields = ["label", "address", "port", "weight", "min_conns", "max_conns", "admin_state"]
