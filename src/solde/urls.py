from django.contrib import admin
from django.urls import include, path

from solde import views
from solde.api.api import api

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("console/", include("solde.backoffice.urls")),
    path("topups/", include("solde.topups.urls")),
    path("phoneline/", include("solde.phoneline.urls")),
    path("notifications/", include("solde.notifications.urls")),
    path("", include("solde.portal.urls")),
]
