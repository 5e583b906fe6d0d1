"""One routes module per resource."""

from integrity.api.routes import deliveries, filter, health, models, rescans, review, tracks

ROUTERS = [
    health.router,
    deliveries.router,
    tracks.router,
    review.router,
    filter.router,
    rescans.router,
    models.router,
]
