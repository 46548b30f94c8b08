from django import forms

from slides.models import Slide


class SlideFilterForm(forms.Form):
    search = forms.CharField(required=False, max_length=200, label="Name")
    vendor = forms.CharField(required=False, max_length=64)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Slide.Status.choices])
