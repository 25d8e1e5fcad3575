from django.urls import path

from solde.notifications import views

app_name = "notifications"
urlpatterns = [path("sms/status/", views.sms_status, name="sms-status")]
