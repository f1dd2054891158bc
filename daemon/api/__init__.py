"""The HTTP interfaces served on the daemon's reactor (klein on twisted.web): the business API, a
subset of the GSMA Mobile Money API 1.2, and the app's private event channels (daemon.channels).
Every operation is declared once (daemon.api.routing); the routes and the OpenAPI document both
come from those declarations."""
