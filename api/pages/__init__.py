"""The web pages: HTML and vanilla JS as Python strings (no CDN, no network, no templates)."""
