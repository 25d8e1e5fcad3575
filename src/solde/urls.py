from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path

from solde.api.api import api


def healthz(request):
    """The process answers (no database): what a load balancer's liveness probe asks."""
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("healthz", healthz),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("topups/", include("solde.topups.urls")),
    path("phoneline/", include("solde.phoneline.urls")),
    path("", include("solde.portal.urls")),
]
