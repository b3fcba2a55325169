from django.contrib import admin
from django.urls import path

from chatbot import views

urlpatterns = [
    path("", views.demo_store, name="demo-store"),
    path("admin/", admin.site.urls),
]
