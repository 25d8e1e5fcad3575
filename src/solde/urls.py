from django.contrib import admin
from django.urls import include, path

from solde.api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("console/", include("solde.backoffice.urls")),
    path("topups/", include("solde.topups.urls")),
    path("phoneline/", include("solde.phoneline.urls")),
    path("", include("solde.portal.urls")),
]
