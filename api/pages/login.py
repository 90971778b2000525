"""``/ui/login``: exchange a token for a session cookie."""

from __future__ import annotations

import html

from api.pages.common import layout
from api.pages.i18n import page_strings

STRINGS = page_strings(
    "login",
    zh={
        "page.title": "登录",
        "login.heading": "登录",
        "login.token": "访问令牌",
        "login.submit": "登录",
        "login.note": "令牌只用于本次登录，浏览器保存的是签名会话，不是令牌。",
    },
    en={
        "page.title": "Log in",
        "login.heading": "Log in",
        "login.token": "Access token",
        "login.submit": "Log in",
        "login.note": "The token is used once; the browser keeps a signed session, "
        "never the token.",
    },
)


def render_login(*, next_path: str, error: str | None, nonce: str) -> str:
    """The login form; ``error`` (plain text, both languages) is shown above it when the last
    try failed."""
    message = f'<p class="err" id="login-error">{html.escape(error)}</p>' if error else ""
    body = f"""
<div class="card" style="max-width:480px;margin:2rem auto">
<h2 data-i18n="login.heading"></h2>{message}
<form method="post" action="/ui/login">
<input type="hidden" name="next" value="{html.escape(next_path, quote=True)}">
<p><label for="token" data-i18n="login.token"></label><br>
<input id="token" name="token" type="password" autocomplete="current-password"
 required maxlength="1024" style="width:100%"></p>
<p><button class="primary" type="submit" data-i18n="login.submit"></button></p>
<p class="muted" data-i18n="login.note"></p>
</form></div>"""
    return layout(
        title="登录 Log in",
        active="",
        principal=None,
        body=body,
        script="document.getElementById('token').focus();",
        nonce=nonce,
        strings=STRINGS,
    )
