"""``/ui/review``: the queue of tickets to review, with snapshot, clip and transition buttons,
and for reviewers and admins the box editor (:mod:`api.pages.annotator`)."""

from __future__ import annotations

from typing import Any

from api.auth import Principal
from api.pages.annotator import CLASS_LABELS, EDITOR_BODY, EDITOR_SCRIPT
from api.pages.common import STATUS_LABELS, layout
from api.workflow import OFFICE_ROLES
from vision.annotations import ANNOTATION_CLASSES

_BODY = """
<div class="card"><h2>审核队列 Review queue</h2>
<label for="filter">状态 Status</label>
<select id="filter"></select>
<button id="reload">刷新 Refresh</button>
<span id="count" class="muted"></span>
<p id="msg" class="err"></p></div>
__EDITOR__
<div id="list" class="grid"></div>
<p><button id="more" hidden>更多 More</button></p>
"""

_SCRIPT = """
const list = document.getElementById('list');
const msg = document.getElementById('msg');
const filter = document.getElementById('filter');
const more = document.getElementById('more');
let offset = 0;
const PAGE_SIZE = 20;

for (const [value, text] of PAGE.filters) filter.append(HW.el('option', {value}, text));
filter.value = PAGE.filters[0][0];

function media(t) {
  const box = HW.el('div', {class: 'media'});
  const base = '/tickets/' + encodeURIComponent(t.id);
  const img = HW.el('img', {src: base + '/snapshot.jpg', alt: 'snapshot', loading: 'lazy'});
  img.addEventListener('error', () => img.replaceWith(
      HW.el('span', {class: 'muted'}, '无快照 no snapshot')));
  box.append(HW.el('figure', {}, img, HW.el('figcaption', {class: 'muted'}, '整改前 Before')));
  const ev = t.evidence || {};
  if (ev.after_snapshot_sha256 && !PAGE.public) {
    box.append(HW.el('figure', {},
      HW.el('img', {src: base + '/snapshot.jpg?after=1', alt: 'after', loading: 'lazy'}),
      HW.el('figcaption', {class: 'muted'}, '整改后 After')));
  }
  if (ev.clip_sha256 || ev.clip_public_sha256) {
    box.append(HW.el('video', {src: base + '/clip.mp4', controls: true, preload: 'none'}));
  }
  return box;
}

function history(t) {
  const ul = HW.el('ul', {class: 'hist'});
  for (const h of (t.history || [])) {
    const who = h.actor ? ' · ' + h.actor : '';
    const move = h.from ? HW.label('status', h.from) + ' → ' : '';
    ul.append(HW.el('li', {}, HW.when(h.at) + who + ' · ' + move +
      HW.label('status', h.to || '') + (h.note ? ' — ' + h.note : '')));
  }
  return ul;
}

function actions(t, card) {
  const box = HW.el('div', {});
  if (PAGE.public) return box;
  const note = HW.el('input', {type: 'text', maxlength: 2000, placeholder: '备注 Note',
                               style: 'width:100%;margin:.4rem 0'});
  const out = HW.el('p', {class: 'err'});
  box.append(note);
  for (const to of (t.allowed_transitions || [])) {
    box.append(HW.el('button', {class: to === 'rejected' ? '' : 'primary', style: 'margin:.2rem',
      onclick: async (e) => {
        e.target.disabled = true;
        try {
          const updated = await HW.api('/tickets/' + encodeURIComponent(t.id) + '/transition', {
            method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({to, note: note.value || null})});
          card.replaceWith(render(updated));
        } catch (err) {
          out.textContent = err.message +
            (err.body && err.body.allowed ? ' (' + err.body.allowed.join(', ') + ')' : '');
          e.target.disabled = false;
        }
      }}, '→ ' + HW.label('status', to)));
  }
  if (PAGE.annotate && (ev(t).clip_sha256 || ev(t).snapshot_sha256)) {
    box.append(HW.el('button', {style: 'margin:.2rem', onclick: () => openEditor(t)},
      '✎ 标注 Annotate boxes'));
  }
  box.append(out);
  return box;
}
function ev(t) { return t.evidence || {}; }

function render(t) {
  const card = HW.el('div', {class: 'card'});
  card.append(
    HW.el('h3', {}, HW.level(t.level), ' ', t.code || t.id),
    HW.el('div', {}, HW.label('kind', t.kind), ' · ', HW.label('status', t.status)),
    HW.el('div', {class: 'muted'}, '摄像头 Camera ' + t.camera_id + ' · 区域 Zone ' + t.zone +
      ' · 发现 ' + HW.when(t.created_at) + ' · 期限 Deadline ' + HW.when(t.deadline_at)),
    media(t), actions(t, card), history(t));
  return card;
}

async function load(reset) {
  if (reset) { offset = 0; HW.clear(list); }
  msg.textContent = '';
  const statuses = filter.value.split(',');
  try {
    let items = [], total = 0, largest = 0;
    for (const s of statuses) {
      const q = new URLSearchParams({limit: PAGE_SIZE, offset});
      if (s) q.set('status', s);
      const page = await HW.api('/tickets?' + q.toString());
      items = items.concat(page.items); total += page.total;
      largest = Math.max(largest, page.total);
    }
    items.sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
    for (const t of items) list.append(render(t));
    offset += PAGE_SIZE;
    document.getElementById('count').textContent = total + ' 条 tickets';
    more.hidden = offset >= largest;
    if (!items.length && reset) list.append(HW.el('p', {class: 'muted'}, '没有工单 No tickets'));
  } catch (err) { msg.textContent = err.message; }
}
document.getElementById('reload').addEventListener('click', () => load(true));
filter.addEventListener('change', () => load(true));
more.addEventListener('click', () => load(false));
load(true);
"""


def render_review(principal: Principal, nonce: str) -> str:
    """The review queue; public tokens get the list of closed items instead, read-only."""
    filters: list[tuple[str, str]]
    if principal.is_public:
        filters = [("closed", STATUS_LABELS["closed"])]
    else:
        filters = [("discovered,reported", "待审 To review: 发现 + 上报")]
        filters += [(status, label) for status, label in STATUS_LABELS.items()]
        filters.append(("", "全部 All"))
    annotate = principal.role in OFFICE_ROLES
    data: dict[str, Any] = {
        "filters": filters,
        "public": principal.is_public,
        "annotate": annotate,
        "classes": [[name, CLASS_LABELS[name]] for name in ANNOTATION_CLASSES],
    }
    return layout(
        title="审核 Review",
        active="review",
        principal=principal,
        body=_BODY.replace("__EDITOR__", EDITOR_BODY if annotate else ""),
        script=_SCRIPT + (EDITOR_SCRIPT if annotate else ""),
        nonce=nonce,
        page_data=data,
    )
