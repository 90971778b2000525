"""The frame shared by every page: head, bilingual navigation, styles and the small JS helpers.

Pages are plain HTML with vanilla JS, no CDN, no network beyond this server. Scripts run under a
Content-Security-Policy with a per-response nonce; they build the DOM with ``textContent`` only
(never ``innerHTML`` with data), so a zone name or a note cannot inject markup. They call the same
JSON API as everyone else, authenticated by the session cookie plus the ``X-Hazardwatch: 1``
header that writes need.
"""

from __future__ import annotations

import html
import json
import secrets

from api.auth import Principal

# Terms of ARCHITECTURE.md §12: Chinese first, English beside it.
STATUS_LABELS = {
    "discovered": "发现 Discovered",
    "reported": "上报 Reported",
    "verified": "核实 Verified",
    "rectifying": "整改 Rectifying",
    "rechecked": "复查 Rechecked",
    "closed": "销号 Closed",
    "rejected": "注销 Rejected",
    "reopened": "重新打开 Reopened",
}
LEVEL_LABELS = {"blue": "蓝 Blue", "yellow": "黄 Yellow", "orange": "橙 Orange", "red": "红 Red"}
KIND_LABELS = {
    "fire_lane_blocked": "消防通道堵塞 Fire lane blocked",
    "ebike_entry": "电动车进电梯 E-bike entry",
    "falling_object": "高空抛物 Falling object",
}
ROLE_LABELS = {
    "admin": "管理员 Admin",
    "reviewer": "审核员 Reviewer",
    "grid_worker": "网格员 Grid worker",
    "public": "居民 Public",
}

STYLE = """
*{box-sizing:border-box}body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;
color:#1d2430;background:#f4f6f8}header{background:#1d3557;color:#fff;padding:.5rem 1rem;
display:flex;gap:1rem;align-items:center;flex-wrap:wrap}header a{color:#fff;text-decoration:none;
padding:.2rem .5rem;border-radius:4px}header a.on{background:#457b9d}header .who{margin-left:auto;
font-size:.9rem}header form{display:inline}main{padding:1rem;max-width:1400px;margin:auto}
button{cursor:pointer;padding:.35rem .7rem;border:1px solid #8a99a8;border-radius:4px;
background:#fff}button.primary{background:#1d3557;color:#fff;border-color:#1d3557}
button:disabled{opacity:.5;cursor:default}.card{background:#fff;border-radius:6px;
box-shadow:0 1px 3px #0002;padding:.8rem;margin-bottom:1rem}.grid{display:grid;
grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:1rem}.media{display:flex;gap:.5rem;
flex-wrap:wrap}.media img,.media video{max-width:100%;width:320px;border-radius:4px;
background:#000}.lv{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff;
font-size:.85rem}.lv-blue{background:#2a6fdb}.lv-yellow{background:#d4a20b}
.lv-orange{background:#e8700a}.lv-red{background:#c62828}.muted{color:#6b7785;font-size:.85rem}
.err{color:#b00020;white-space:pre-wrap}.ok{color:#1b7f3a}table{border-collapse:collapse}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}th{background:#eef1f4}
.hist{font-size:.85rem;margin:.4rem 0 0 1rem;padding:0}input,select,textarea{padding:.3rem;
border:1px solid #8a99a8;border-radius:4px;font:inherit}label{margin-right:.5rem}
"""

# Helpers every page script uses: fetch with the CSRF header, DOM building, labels.
SCRIPT = """
const HW = {
  labels: __LABELS__,
  async api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({'X-Hazardwatch': '1', 'Accept': 'application/json'},
                                  opts.headers || {});
    const r = await fetch(path, Object.assign({credentials: 'same-origin'}, opts, {headers}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 401) {
      location.href = '/ui/login?next=' + encodeURIComponent(location.pathname);
    }
    if (!r.ok) {
      const err = new Error((body && body.detail) || ('HTTP ' + r.status));
      err.status = r.status; err.body = body; throw err;
    }
    return body;
  },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },
  label(group, key) { return (HW.labels[group] || {})[key] || String(key); },
  level(level) { return HW.el('span', {class: 'lv lv-' + level}, HW.label('level', level)); },
  when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString();
  },
  clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; },
};
"""

_NAV = (
    ("review", "/ui/review", "审核 Review"),
    ("dashboard", "/ui/dashboard", "看板 Dashboard"),
    ("zones", "/ui/zones", "区域 Zones"),
)


def new_nonce() -> str:
    """A fresh CSP nonce for one response."""
    return secrets.token_urlsafe(18)


def content_security_policy(nonce: str) -> str:
    return (
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; "
        f"script-src 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def security_headers(nonce: str) -> dict[str, str]:
    """Headers every page is sent with."""
    return {
        "Content-Security-Policy": content_security_policy(nonce),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our
        # own form posts, which the login's cross-site check must refuse (api.routes.ui).
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def labels_json() -> str:
    """The label tables as a JSON literal safe inside a ``<script>`` element."""
    data = {
        "status": STATUS_LABELS,
        "level": LEVEL_LABELS,
        "kind": KIND_LABELS,
        "role": ROLE_LABELS,
    }
    return script_json(data)


def script_json(data: object) -> str:
    """JSON that cannot close the surrounding ``<script>`` element."""
    return (
        json.dumps(data, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def layout(
    *,
    title: str,
    active: str,
    principal: Principal | None,
    body: str,
    script: str,
    nonce: str,
    page_data: object = None,
) -> str:
    """A full HTML page: header with navigation and who is logged in, ``body`` and ``script``.

    ``body`` is trusted markup written in this package; anything from a user or the store must
    reach the page through ``page_data`` (JSON, read by the script) and ``textContent``.
    """
    nav = ""
    if principal is not None:
        links = []
        for key, href, text in _NAV:
            if key == "zones" and principal.is_public:
                continue
            cls = ' class="on"' if key == active else ""
            links.append(f'<a href="{href}"{cls}>{html.escape(text)}</a>')
        role = ROLE_LABELS.get(principal.role.value, principal.role.value)
        nav = (
            "".join(links)
            + f'<span class="who">{html.escape(principal.name)} · {html.escape(role)} '
            + '<form method="post" action="/ui/logout"><button type="submit">退出 Log out'
            + "</button></form></span>"
        )
    helpers = SCRIPT.replace("__LABELS__", labels_json())
    data = script_json(page_data)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)} · hazardwatch</title><style>{STYLE}</style></head>
<body><header><strong>社区安全隐患 hazardwatch</strong>{nav}</header>
<main>{body}</main>
<script nonce="{nonce}">{helpers}
const PAGE = {data};
{script}</script></body></html>"""
