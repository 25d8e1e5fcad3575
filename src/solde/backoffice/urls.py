from django.urls import path

from solde.backoffice import migration, rejected, twofactor, views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("2fa/", twofactor.two_factor, name="two_factor"),
    path("2fa/recovery-codes/", twofactor.recovery_codes, name="recovery_codes"),
    path("search/", views.search_view, name="search"),
    # The rejected readings' queue has its own page (filters, marking reviewed); same URL.
    path("queues/rejected-readings/", rejected.rejected_readings, name="rejected_readings"),
    path("queues/<slug:slug>/", views.queue, name="queue"),
    path("reading-reviews/<int:pk>/undo/", rejected.undo_review, name="undo_review"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("migration/", migration.migration, name="migration"),
    path("migration/letters/<str:name>", migration.migration_letters, name="migration_letters"),
    path("customers/<int:pk>/", views.customer, name="customer"),
    path("customers/<int:pk>/timeline/", views.customer_timeline, name="timeline"),
    path("customers/<int:pk>/contact/", views.contact, name="contact"),
    path("customers/<int:pk>/erase/", views.erase, name="erase"),
    path("supply-points/<int:pk>/adjust/", views.adjust, name="adjust"),
    path("supply-points/<int:pk>/reissue-code/", views.reissue_code, name="reissue_code"),
    path("supply-points/<int:pk>/pause/", views.pause, name="pause"),
    path("supply-points/<int:pk>/order/", views.order, name="order"),
    path("messages/<int:pk>/resend/", views.resend, name="resend"),
    path("messages/<int:pk>/letter.pdf", views.letter, name="letter"),
    path("suspense/<int:pk>/match/", views.match_suspense, name="match_suspense"),
    path("held-runs/<int:pk>/", views.held_run, name="held_run"),
    path("requests/<int:pk>/", views.decide, name="decide"),
]
