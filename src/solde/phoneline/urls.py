from django.urls import path

from solde.phoneline import views

app_name = "phoneline"
urlpatterns = [path("", views.balance, name="balance")]
