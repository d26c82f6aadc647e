"""Infobip (Conversations API, `ccaas/1`) adapter."""
