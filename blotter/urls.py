from django.urls import include, path

from blotter import views

urlpatterns = [
    path("", views.home, name="home"),
    path("blotter/forms/", include("blotter.form_urls")),  # the desk forms (F)
]
