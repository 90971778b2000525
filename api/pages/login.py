"""``/ui/login``: exchange a token for a session cookie."""

from __future__ import annotations

import html

from api.pages.common import layout


def render_login(*, next_path: str, error: str | None, nonce: str) -> str:
    """The login form; ``error`` (plain text) is shown above it when the last try failed."""
    message = f'<p class="err">{html.escape(error)}</p>' if error else ""
    body = f"""
<div class="card" style="max-width:480px;margin:3rem auto">
<h2>登录 Log in</h2>{message}
<form method="post" action="/ui/login">
<input type="hidden" name="next" value="{html.escape(next_path, quote=True)}">
<p><label for="token">访问令牌 Access token</label><br>
<input id="token" name="token" type="password" autocomplete="current-password"
 required maxlength="1024" style="width:100%"></p>
<p><button class="primary" type="submit">登录 Log in</button></p>
<p class="muted">令牌只用于本次登录，浏览器保存的是签名会话，不是令牌。
The token is used once; the browser keeps a signed session, never the token.</p>
</form></div>"""
    return layout(
        title="登录 Log in",
        active="",
        principal=None,
        body=body,
        script="document.getElementById('token').focus();",
        nonce=nonce,
    )
