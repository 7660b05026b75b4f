"""/blotter/forms/<action>/: the desk's forms (blotter/forms/ lists the actions)."""

from __future__ import annotations

from django.urls import path

from blotter import form_views

urlpatterns = [path("<slug:action>/", form_views.command_form, name="blotter-form")]
