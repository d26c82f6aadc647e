"""Socialboards (External Chat API) adapter and sandbox."""
