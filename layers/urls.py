from django.urls import path

from layers import api_views, views

app_name = "layers"
urlpatterns = [
    path("api/slides/<id:slide_id>/layers", api_views.slide_layers, name="slide_layers"),
    path("api/projects/<id:project_id>/layers", api_views.project_layers, name="project_layers"),
    path("api/layers/<id:layer_id>", api_views.layer, name="layer"),
    path("api/layers/<id:layer_id>/features", api_views.layer_features, name="layer_features"),
    path("api/layers/<id:layer_id>/metrics", api_views.layer_metrics, name="layer_metrics"),
    path(
        "api/layers/<id:layer_id>/features/<id:feature_id>",
        api_views.layer_feature,
        name="layer_feature",
    ),
    # The pages (layers.views).
    path("layers/projects/<id:project_id>/", views.project_page, name="project_page"),
    path("layers/projects/<id:project_id>/upload/", views.project_upload, name="project_upload"),
    path(
        "layers/projects/<id:project_id>/upload-zip/",
        views.project_upload_zip,
        name="project_upload_zip",
    ),
    path("layers/slides/<id:slide_id>/upload/", views.slide_upload, name="slide_upload"),
    path("layers/<id:layer_id>/", views.layer_page, name="layer_page"),
    path("layers/<id:layer_id>/delete/", views.layer_delete, name="layer_delete"),
    path(
        "api/layers/<id:layer_id>/features/<id:feature_id>/promote",
        api_views.feature_promote,
        name="feature_promote",
    ),
]
