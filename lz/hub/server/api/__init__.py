"""The hub's HTTP API: one router per noun; app.py alone lists them."""
