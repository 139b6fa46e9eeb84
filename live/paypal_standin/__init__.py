"""A stateful stand-in for the few PayPal REST endpoints the live adapter uses.

No PayPal sandbox stand-in is published, so this one answers ``POST /v1/oauth2/token``,
``POST /v2/checkout/orders`` (one-step create-and-capture), ``GET /v2/payments/captures/{id}``,
``POST /v2/payments/captures/{id}/refund`` and ``GET /v1/reporting/transactions`` in PayPal's
documented shapes, and delegates every decision to ``core.models.paypal_model.PayPalModel``
(one source of truth for the semantics). See ``app.py``.
"""

from live.paypal_standin.app import StandinSettings, create_app

__all__ = ["StandinSettings", "create_app"]
