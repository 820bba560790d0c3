from django.urls import path

from apps.memory import views

urlpatterns = [
    path("store/items", views.StoreItemView.as_view()),
    path("store/items/search", views.StoreItemSearchView.as_view()),
    path("store/namespaces", views.StoreNamespaceListView.as_view()),
]
