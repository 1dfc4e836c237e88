"""Offline training of the routing model (scikit-learn lives here, never in the bot's inference path)."""
