"""Socialboards (External Chat API) adapter."""
