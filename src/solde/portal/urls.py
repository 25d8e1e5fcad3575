from django.urls import include, path

from solde.portal import onboarding, views

app_name = "portal"
urlpatterns = [
    path("", onboarding.home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accessibilite/", onboarding.accessibility, name="accessibility"),
    # Onboarding with an activation code
    path("activation/", onboarding.activation_code, name="activation_code"),
    path("activation/donnees/", onboarding.activation_details, name="activation_details"),
    path("activation/envoye/", onboarding.activation_sent, name="activation_sent"),
    path(
        "activation/mot-de-passe/<uidb64>/<token>/",
        onboarding.ChoosePasswordView.as_view(),
        name="activation_password",
    ),
    path("activation/pret/", onboarding.activation_ready, name="activation_ready"),
    # Login, logout, password reset
    path("login/", onboarding.LoginView.as_view(), name="login"),
    path("logout/", onboarding.LogoutView.as_view(), name="logout"),
    path("mot-de-passe/oublie/", onboarding.PasswordResetView.as_view(), name="password_reset"),
    path(
        "mot-de-passe/envoye/",
        onboarding.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "mot-de-passe/<uidb64>/<token>/",
        onboarding.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "mot-de-passe/change/",
        onboarding.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # The customer's space
    path("espace/", views.dashboard, name="dashboard"),
    path("espace/lu/", views.mark_read, name="mark_read"),
    path("espace/profil/", views.profile, name="profile"),
    path("espace/profil/mes-donnees/", views.download_data, name="download_data"),
    path("espace/contact/", views.contact_preferences, name="contact"),
    path("espace/choisir/<slug:section>/", views.choose, name="choose"),
    path("espace/ean/<str:ean>/", views.balance, name="balance"),
    path("espace/ean/<str:ean>/solde/", views.balance_panel, name="balance_panel"),
    path("espace/ean/<str:ean>/recharger/", views.topup, name="topup"),
    path("espace/ean/<str:ean>/recharger/retour/", views.topup_done, name="topup_done"),
    path("espace/ean/<str:ean>/historique/", views.history, name="history"),
    path("espace/ean/<str:ean>/consommation/", views.consumption, name="consumption"),
    path("espace/ean/<str:ean>/alertes/", views.alerts, name="alerts"),
    path(
        "espace/ean/<str:ean>/alertes/historique/",
        views.alerts_history,
        name="alerts_history",
    ),
]
