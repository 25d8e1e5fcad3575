from django.urls import path

from solde.phoneline import views

app_name = "phoneline"
urlpatterns = [
    path("", views.balance, name="balance"),
    path("voice/", views.voice, name="voice"),
    path("voice/balance/", views.voice_balance, name="voice-balance"),
]
