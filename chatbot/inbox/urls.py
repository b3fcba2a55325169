from django.urls import path

from chatbot.inbox import views

urlpatterns = [
    path("inbox/", views.inbox_setup, name="inbox-setup"),
    path("inbox/search/", views.inbox_search, name="inbox-search"),
    path("inbox/labels/", views.labels_of, name="inbox-labels-of"),
    path(
        "inbox/conversations/<str:public_id>/labels/",
        views.conversation_labels,
        name="inbox-labels",
    ),
    path(
        "inbox/conversations/<str:public_id>/labels/<id:label_id>/",
        views.conversation_labels,
        name="inbox-label",
    ),
    path(
        "inbox/conversations/<str:public_id>/visitor/",
        views.visitor_context,
        name="inbox-visitor",
    ),
    path("inbox/views/", views.saved_views, name="inbox-views"),
    path("inbox/views/<id:view_id>/", views.saved_views, name="inbox-view"),
    path("inbox/replies/", views.canned_replies, name="inbox-replies"),
    path("inbox/replies/<id:reply_id>/", views.canned_replies, name="inbox-reply"),
    path("reports/", views.agent_report, name="inbox-report"),
    path("reports.csv", views.agent_report_csv, name="inbox-report-csv"),
    path("conversations/<str:public_id>/transcript/", views.transcript, name="inbox-transcript"),
    path("export.csv", views.conversations_export, {"fmt": "csv"}, name="inbox-export-csv"),
    path("export.json", views.conversations_export, {"fmt": "json"}, name="inbox-export-json"),
]
