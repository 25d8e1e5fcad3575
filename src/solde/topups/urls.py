from django.urls import path

from solde.topups import views

app_name = "topups"

urlpatterns = [
    path("webhook/", views.webhook, name="webhook"),
]
