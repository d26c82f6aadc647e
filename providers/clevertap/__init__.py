"""CleverTap-style Conversations (docs/clevertap-api.md) adapter."""
