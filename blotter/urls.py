from django.urls import path

from blotter import views

urlpatterns = [path("", views.home, name="home")]
