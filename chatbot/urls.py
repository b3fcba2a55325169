from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from chatbot.analytics import views as analytics_views
from chatbot.attachments import views as attachment_views
from chatbot.handoff import views as console_views
from chatbot.ops import health, metrics_view, router_status
from chatbot.security import csp_reports
from chatbot.widget_config import views
from knowledge import views as knowledge_views

urlpatterns = [
    path("", views.demo_store, name="demo-store"),
    path("widget/greeting", views.widget_greeting, name="widget-greeting"),
    path("widget/origin", views.widget_origin, name="widget-origin"),
    path("agents/<id:user_id>/avatar", views.agent_avatar, name="agent-avatar"),
    path("csp-report/", csp_reports.csp_report, name="csp-report"),
    path("admin/widget-preview/", views.widget_preview, name="widget-preview"),
    # Browsers ask for /favicon.ico on every page that names none (the admin's pages): a 404
    # in every log otherwise.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("chat/attachments/", attachment_views.visitor_upload, name="attachment-upload"),
    path("attachments/<str:token>/", attachment_views.attachment_file, name="attachment-file"),
    path(
        "console/conversations/<str:public_id>/attachments/",
        attachment_views.agent_upload,
        name="console-attachment-upload",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/models", health.readyz_models, name="readyz-models"),
    path("metrics", metrics_view.metrics_view, name="metrics"),
    path("admin/llm-router/", router_status.router_status, name="llm-router-status"),
    path("admin/analytics/", analytics_views.analytics_dashboard, name="admin-analytics"),
    path("admin/matching-quality/", knowledge_views.matching_quality, name="matching-quality"),
    path("help/<id:pk>/", knowledge_views.help_article, name="help-article"),
    path("admin/", admin.site.urls),
    path("console/", console_views.console, name="console"),
    path("console/", include("chatbot.inbox.urls")),
    path(
        "console/login/",
        auth_views.LoginView.as_view(
            template_name="console/login.html", redirect_authenticated_user=True
        ),
        name="console-login",
    ),
    path(
        "console/logout/",
        auth_views.LogoutView.as_view(next_page="console-login"),
        name="console-logout",
    ),
    path(
        "chat/transcript/<str:token>/",
        console_views.transcript_confirm,
        name="transcript-confirm",
    ),
    path(
        "console/messages/<id:message_id>/faq-draft/",
        console_views.faq_draft,
        name="console-faq-draft",
    ),
]
