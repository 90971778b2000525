"""The frame shared by every page: head, navigation, the language switch, styles, JS helpers.

Pages are plain HTML with vanilla JS, no CDN, no network beyond this server. Scripts run under a
Content-Security-Policy with a per-response nonce; they build the DOM with ``textContent`` only
(never ``innerHTML`` with data), so a zone name or a note cannot inject markup. They call the same
JSON API as everyone else, authenticated by the session cookie plus the ``X-Hazardwatch: 1``
header that writes need.

Languages (简体中文 and English, :mod:`api.pages.i18n`). A page never writes user-facing words
into its markup or script directly; it declares them once per language and refers to them by key:

1. In the page module, a dictionary checked at import (same keys and ``{placeholders}`` in both)::

       STRINGS = page_strings(
           "zones",
           zh={"zones.title": "区域编辑", "zones.saved": "已保存 {n} 个区域"},
           en={"zones.title": "Zone editor", "zones.saved": "Saved {n} zones"},
       )

   Prefix keys with the page's name; the frame's own keys (``nav.*``, ``lang.*``, ``common.*``)
   are in :data:`api.pages.i18n.COMMON` and can be used by any page.
2. Pass it to :func:`layout` as ``strings=STRINGS``. A key ``page.title`` becomes the window title.
3. In the markup, leave the element empty and name its key: ``<h2 data-i18n="zones.title"></h2>``;
   ``data-i18n-placeholder``, ``data-i18n-title`` and ``data-i18n-aria-label`` fill those
   attributes; ``data-i18n-vars='{"n": 3}'`` (JSON, escaped) gives a text its ``{placeholders}``.
   The frame fills them all before the page's script runs; ``HW.translate(node)`` does it again
   for markup a script adds.
4. In the script, ``HW.t('zones.saved', {n: 3})`` (a missing key is a console error, which fails
   the browser tests), ``HW.label('status', 'closed')`` for stored values (statuses, levels,
   kinds, roles), ``HW.lang`` (``'zh-CN'`` or ``'en'``) for anything else, e.g. number formats.

The language follows the browser (``navigator.languages``: the first Chinese or English entry; else
Chinese) until the user presses the switch in the header; the choice is kept in ``localStorage``
(``hw-lang``) and a ``hw_lang`` cookie, and the page reloads in the other language.

Phones: pages must fit 390 CSS px without sideways scrolling. Use ``.grid`` (columns that shrink
to the screen), ``.scroll-x`` around a wide table (it scrolls inside, the page does not), and keep
fixed widths under ``max-width:100%``.
"""

from __future__ import annotations

import html
import json
import secrets

from api.auth import Principal
from api.pages.i18n import (
    COMMON,
    LABELS,
    LANG_COOKIE,
    LANG_STORAGE_KEY,
    LANGUAGES,
    Strings,
    bilingual_label,
    merge_strings,
)

# Chinese first, English beside it: for server-side text that must read in both languages at once
# (the pages themselves use one language at a time, through HW.label).
STATUS_LABELS = {key: bilingual_label("status", key) for key in LABELS["en"]["status"]}
LEVEL_LABELS = {key: bilingual_label("level", key) for key in LABELS["en"]["level"]}
KIND_LABELS = {key: bilingual_label("kind", key) for key in LABELS["en"]["kind"]}
ROLE_LABELS = {key: bilingual_label("role", key) for key in LABELS["en"]["role"]}

STYLE = """
*{box-sizing:border-box}html{-webkit-text-size-adjust:100%}[hidden]{display:none!important}
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:0;color:#1d2430;
background:#f4f6f8;overflow-wrap:anywhere}
header{background:#1d3557;color:#fff;padding:.4rem .8rem;display:flex;gap:.3rem .8rem;
align-items:center;flex-wrap:wrap}header a{color:#fff;text-decoration:none;padding:.2rem .5rem;
border-radius:4px}header a.on{background:#457b9d}header .brand{white-space:nowrap}
header nav{display:flex;gap:.2rem;flex-wrap:wrap}header .who{margin-left:auto;font-size:.9rem;
display:flex;gap:.4rem;align-items:center;flex-wrap:wrap}header form{display:inline}
header button{padding:.2rem .5rem}
main{padding:1rem;max-width:1400px;margin:auto}
button{cursor:pointer;padding:.35rem .7rem;border:1px solid #8a99a8;border-radius:4px;
background:#fff;font:inherit;font-size:.95rem}button.primary{background:#1d3557;color:#fff;
border-color:#1d3557}button.danger{background:#fff;color:#b00020;border-color:#b00020}
button:disabled{opacity:.5;cursor:default}.card{background:#fff;border-radius:6px;
box-shadow:0 1px 3px #0002;padding:.8rem;margin-bottom:1rem}.grid{display:grid;
grid-template-columns:repeat(auto-fill,minmax(min(420px,100%),1fr));gap:1rem}
.media{display:flex;gap:.5rem;flex-wrap:wrap}.media img,.media video{max-width:100%;width:320px;
border-radius:4px;background:#000}img,video,canvas,svg{max-width:100%}
.lv{display:inline-block;padding:0 .4rem;border-radius:3px;color:#fff;
font-size:.85rem}.lv-blue{background:#2a6fdb}.lv-yellow{background:#d4a20b}
.lv-orange{background:#e8700a}.lv-red{background:#c62828}.muted{color:#6b7785;font-size:.85rem}
.err{color:#b00020;white-space:pre-wrap}.ok{color:#1b7f3a}table{border-collapse:collapse}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}th{background:#eef1f4}
.scroll-x{overflow-x:auto;max-width:100%}
.hist{font-size:.85rem;margin:.4rem 0 0 1rem;padding:0}input,select,textarea{padding:.3rem;
border:1px solid #8a99a8;border-radius:4px;font:inherit;max-width:100%}label{margin-right:.5rem}
@media (max-width:600px){main{padding:.5rem}.card{padding:.6rem}header{padding:.3rem .5rem}}
"""

# Helpers every page script uses: fetch with the CSRF header, DOM building, words and labels.
SCRIPT = """
const HW = {
  labels: __LABELS__,
  strings: __STRINGS__,
  lang: __DEFAULT_LANG__,
  pickLang() {
    let saved = null;
    try { saved = localStorage.getItem(__STORAGE_KEY__); } catch (e) { saved = null; }
    if (!saved) {
      const m = document.cookie.match(/(?:^|; )__COOKIE__=([^;]+)/);
      saved = m ? decodeURIComponent(m[1]) : null;
    }
    if (saved && HW.strings[saved]) return saved;
    const prefs = (navigator.languages && navigator.languages.length) ?
      navigator.languages : [navigator.language || ''];
    for (const pref of prefs) {
      const p = String(pref).toLowerCase();
      if (p.startsWith('zh')) return 'zh-CN';
      if (p.startsWith('en')) return 'en';
    }
    return __DEFAULT_LANG__;
  },
  setLang(lang) {
    if (!HW.strings[lang]) throw new Error('no such language: ' + lang);
    try { localStorage.setItem(__STORAGE_KEY__, lang); } catch (e) { /* cookie below */ }
    document.cookie = __COOKIE_NAME__ + '=' + encodeURIComponent(lang) +
      '; path=/; max-age=31536000; samesite=lax';
    location.reload();
  },
  t(key, vars) {
    const table = HW.strings[HW.lang] || {};
    let text = table[key];
    if (text === undefined) {
      console.error('hazardwatch: no text for "' + key + '" in ' + HW.lang);
      return key;
    }
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split('{' + name + '}').join(String(value));
    }
    return text;
  },
  translate(root) {
    for (const node of root.querySelectorAll('[data-i18n]')) {
      const vars = node.dataset.i18nVars ? JSON.parse(node.dataset.i18nVars) : null;
      node.textContent = HW.t(node.dataset.i18n, vars);
    }
    for (const attr of ['placeholder', 'title', 'aria-label']) {
      const data = 'i18n' + attr.split('-').map(w => w[0].toUpperCase() + w.slice(1)).join('');
      for (const node of root.querySelectorAll('[data-i18n-' + attr + ']')) {
        node.setAttribute(attr, HW.t(node.dataset[data]));
      }
    }
  },
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
  label(group, key) {
    const table = HW.labels[HW.lang] || {};
    return (table[group] || {})[key] || String(key);
  },
  level(level) { return HW.el('span', {class: 'lv lv-' + level}, HW.label('level', level)); },
  when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(HW.lang);
  },
  clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; },
};
HW.lang = HW.pickLang();
document.documentElement.lang = HW.lang;
HW.translate(document);
{
  const title = (HW.strings[HW.lang] || {})['page.title'];  // optional for a page
  if (title) document.title = title + ' · hazardwatch';
}
{
  const sw = document.getElementById('hw-lang');
  const other = HW.lang === 'en' ? 'zh-CN' : 'en';
  sw.setAttribute('lang', other);
  sw.addEventListener('click', () => HW.setLang(other));
}
"""

_NAV = (
    ("review", "/ui/review", "nav.review"),
    ("dashboard", "/ui/dashboard", "nav.dashboard"),
    ("zones", "/ui/zones", "nav.zones"),
    ("dispatch", "/ui/dispatch", "nav.dispatch"),
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
    """The label tables (language -> group -> stored value -> text) as a safe JSON literal."""
    return script_json(LABELS)


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
    strings: Strings | None = None,
) -> str:
    """A full HTML page: header with navigation, who is logged in and the language switch,
    ``body`` and ``script``.

    ``body`` is trusted markup written in this package; anything from a user or the store must
    reach the page through ``page_data`` (JSON, read by the script) and ``textContent``.
    ``strings`` is the page's dictionary (:func:`api.pages.i18n.page_strings`); ``title`` is
    the window title until the script replaces it with the ``page.title`` text.
    """
    words = merge_strings(COMMON, strings or {lang: {} for lang in LANGUAGES})
    nav = ""
    who = ""
    if principal is not None:
        links = []
        for key, href, text_key in _NAV:
            if key == "zones" and principal.is_public:
                continue
            if key == "dispatch" and not principal.is_admin:  # GET/PUT /dispatch: admin only
                continue
            cls = ' class="on"' if key == active else ""
            aria = ' aria-current="page"' if key == active else ""
            links.append(f'<a href="{href}"{cls}{aria} data-i18n="{text_key}"></a>')
        nav = "<nav>" + "".join(links) + "</nav>"
        role = html.escape(principal.role.value)
        who = (
            f'<span class="who-name">{html.escape(principal.name)}</span> · '
            f'<span class="who-role" data-role="{role}"></span>'
            '<form method="post" action="/ui/logout"><button type="submit" id="hw-logout" '
            'data-i18n="nav.logout"></button></form>'
        )
    helpers = (
        SCRIPT.replace("__LABELS__", labels_json())
        .replace("__STRINGS__", script_json(words))
        .replace("__DEFAULT_LANG__", script_json(LANGUAGES[0]))
        .replace("__STORAGE_KEY__", script_json(LANG_STORAGE_KEY))
        .replace("__COOKIE_NAME__", script_json(LANG_COOKIE))
        .replace("__COOKIE__", LANG_COOKIE)
    )
    data = script_json(page_data)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)} · hazardwatch</title><style>{STYLE}</style></head>
<body><header><strong class="brand"><span data-i18n="app.name"></span> · hazardwatch</strong>{nav}
<span class="who">{who}<button type="button" id="hw-lang" data-i18n="lang.switch"
 data-i18n-title="lang.switch_title"></button></span></header>
<main>{body}</main>
<script nonce="{nonce}">{helpers}
for (const node of document.querySelectorAll('.who-role')) {{
  node.textContent = HW.label('role', node.dataset.role);
}}
const PAGE = {data};
{script}</script></body></html>"""
